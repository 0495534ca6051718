"""``segmint traits list`` and ``segmint traits compute``: tables, JSON, and the same values as the API."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import typer
import yaml
from strategies import ingest
from typer.testing import CliRunner

from segmint.cli import commands
from segmint.config.model import IdentityConfig
from segmint.store.store import Store
from segmint.traits.batch import compute_traits

runner = CliRunner()
AS_OF = "2026-01-02T00:00:00Z"
TRAITS = {
    "orders": {"count": "Order Completed", "description": "Orders ever"},
    "spend": {"sum": "total", "of": "Order Completed"},
    "fav": {"most_frequent": "category", "of": "Product Viewed"},
    "since": {"days_since": "Order Completed"},
}
MESSAGES = [
    {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"total": 20}, "timestamp": "2026-01-01T00:00:00Z"},
    {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"total": 5.5}, "timestamp": "2026-01-01T01:00:00Z"},
    {"type": "track", "anonymousId": "a9", "event": "Product Viewed", "properties": {"category": "outdoor"}, "timestamp": "2026-01-01T02:00:00Z"},
]


def segmint_app() -> typer.Typer:
    app = typer.Typer()
    commands.register(app)
    return app


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "segmint.yaml").write_text(yaml.safe_dump({"traits": TRAITS, "segments": {"buyers": {"trait": "orders", "gte": 1}}}, sort_keys=False))
    store = ingest([{**m, "messageId": f"m{i}"} for i, m in enumerate(MESSAGES)], Store(tmp_path / "segmint.duckdb"))
    store.close()
    return tmp_path


def _run(project: Path, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(segmint_app(), [*args, "--config", str(project / "segmint.yaml")])


def test_list_shows_every_trait(project: Path) -> None:
    result = _run(project, "traits", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    listed = orjson.loads(result.stdout)
    assert [t["name"] for t in listed["traits"]] == list(TRAITS) and listed["errors"] == []
    table = _run(project, "traits", "list")
    assert table.exit_code == 0 and "Orders ever" in table.stdout


def test_list_fails_on_errors(project: Path) -> None:
    (project / "segmint.yaml").write_text(yaml.safe_dump({"traits": {"bad": {"sum": "total"}}}))
    result = _run(project, "traits", "list", "--format", "json")
    assert result.exit_code == 1
    assert orjson.loads(result.stdout)["errors"][0]["key"] == "of"


def test_compute_prints_what_the_api_returns(project: Path) -> None:
    result = _run(project, "traits", "compute", "--as-of", AS_OF, "--db", str(project / "segmint.duckdb"), "--format", "json")
    assert result.exit_code == 0, result.output
    printed = orjson.loads(result.stdout)["profiles"]
    store = Store(project / "segmint.duckdb")
    try:
        from segmint.clock import parse_instant
        from segmint.traits.parse import load_traits

        frame = compute_traits(store.cursor(), load_traits(TRAITS).definitions.values(), IdentityConfig(), parse_instant(AS_OF))
    finally:
        store.close()
    assert [p["profile_id"] for p in printed] == list(frame.profile_id) == ["a9", "u1"]
    by_id = {p["profile_id"]: p for p in printed}
    for row in frame.to_dict("records"):
        for name in TRAITS:
            value = row[name]
            assert by_id[row["profile_id"]][name] == (None if value is None or value != value else value)
    one = _run(project, "traits", "compute", "--as-of", AS_OF, "--db", str(project / "segmint.duckdb"), "--profile", "u1")
    assert one.exit_code == 0 and "u1" in one.stdout and "a9" not in one.stdout


def test_segments_evaluate_reads_computed_traits(project: Path) -> None:
    result = _run(project, "segments", "evaluate", "--as-of", AS_OF, "--db", str(project / "segmint.duckdb"), "--format", "json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == {"buyers": ["u1"]}
