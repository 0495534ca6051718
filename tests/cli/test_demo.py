"""`segmint demo` runs the whole story and its figures are consistent."""

from __future__ import annotations

import subprocess
import sys

import orjson

from segmint.segments.realtime import arenas


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


def test_demo_segments_agree_and_find_the_planted_personas(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "segmint.cli.main", "demo", "--dir", str(tmp_path / "d"), "--customers", "400",
         "--format", "json"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    chapter = orjson.loads(result.stdout)["segments"]
    assert chapter["errors"] == []
    rows = {row["segment"]: row for row in chapter["segments"]}
    assert all(row["agree"] for row in rows.values()), rows
    campaigns = {
        "loyal_buyers": "Loyal Buyers", "window_shoppers": "Window Shoppers",
        "occasional_buyers": "Occasional Buyers", "new_visitors": "New Visitors",
        "churned_customers": "Churned Customers",
    }
    for segment, persona in campaigns.items():
        counts = rows[segment]["personas"]
        assert counts and max(counts, key=counts.get) == persona, (segment, counts)
    explained = chapter["explained"]
    assert explained["why"]["member"] is True
    assert explained["why"]["condition"]["holds"] is True
    live = chapter["real_time"]  # the replay's own rate, and which build of the core ran it
    assert live["messages"] > 0 and live["messages_per_second"] > 0
    assert live["core"].startswith("compiled core: ")
    assert live["memory"] == arenas.summary()  # the replay ran on huge pages wherever they exist
