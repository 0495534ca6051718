"""`segmint demo` runs the whole story and its figures are consistent."""

from __future__ import annotations

import subprocess
import sys

import orjson


def test_demo_runs_end_to_end(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "segmint.cli.main", "demo", "--dir", str(tmp_path / "d"), "--customers", "300",
         "--format", "json"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    story = orjson.loads(result.stdout)
    files = {f["kind"]: f for f in story["collect"]["files"]}
    generated = story["collect"]["generated"]
    # Every generated message is accepted once; planted retries are dropped, planted defects kept.
    assert files["jsonl"]["accepted"] == generated["messages"]
    assert files["jsonl"]["duplicates"] == generated["duplicates_planted"]
    assert files["jsonl"]["failed"] == generated["invalid_lines_planted"]
    assert files["parquet"]["accepted"] == generated["orders"]
    assert files["csv"]["accepted"] == generated["customers"]
    profiles = story["profiles"]
    assert profiles["profiles"] == 300
    assert profiles["customers"] == generated["customers"]
    assert profiles["example"]["ids"]["user_id"] == [profiles["example"]["id"]]
    clv = story["lifetime_value"]
    assert clv["repeat_customers"] <= clv["customers"]
    values = [row["clv_12m"] for row in clv["top"]]
    assert values == sorted(values, reverse=True) and values[0] > 0
