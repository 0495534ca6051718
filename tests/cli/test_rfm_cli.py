"""``segmint rfm`` on the demo shop: the grid, JSON, and scores published as usable traits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from segmint.cli import commands
from segmint.config import load_config
from segmint.demo import DEFAULT_NOW, story
from segmint.learn.rfm import TRAITS, rfm_grid, rfm_scores
from segmint.segments.batch import evaluate_duckdb
from segmint.segments.parse import load_segments
from segmint.store.store import Store

runner = CliRunner()
AS_OF = DEFAULT_NOW.isoformat()


def segmint_app() -> typer.Typer:
    app = typer.Typer()
    commands.register(app)
    return app


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    demo = story.prepare(tmp_path_factory.mktemp("shop"), customers=150, seed=11)
    story.collect(demo)
    assert demo.store is not None
    demo.store.close()
    return demo.directory


@pytest.fixture
def copy(shop: Path, tmp_path: Path) -> Path:
    """A store of our own, for tests that write."""
    for name in ("segmint.duckdb", "segmint.yaml"):
        shutil.copy(shop / name, tmp_path / name)
    return tmp_path


def rfm(directory: Path, *args: str) -> str:
    result = runner.invoke(
        segmint_app(),
        ["rfm", "--db", str(directory / "segmint.duckdb"), "--config", str(directory / "segmint.yaml"), *args],
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_json_grid_is_the_python_grid(shop: Path):
    out = json.loads(rfm(shop, "--as-of", AS_OF, "--format", "json"))
    config = load_config(shop / "segmint.yaml")
    with Store(shop / "segmint.duckdb", read_only=True) as store:
        scores = rfm_scores(store, config, DEFAULT_NOW)
    grid = rfm_grid(scores, config)
    assert out["customers"] == len(scores) > 50
    assert [s["segment"] for s in out["segments"]] == list(grid["segment"])
    assert [s["customers"] for s in out["segments"]] == list(grid["customers"])
    assert sum(s["customers"] for s in out["segments"]) == out["customers"]
    assert out["monetary"] == pytest.approx(sum(s["monetary"] for s in out["segments"]))
    assert sum(sum(row.values()) for row in out["recency_by_frequency"].values()) == out["customers"]
    assert out["published"] is None


def test_table_names_the_segments(shop: Path):
    out = rfm(shop, "--as-of", AS_OF)
    assert "RFM segments" in out and "Champions" in out and "R \\ F" in out


def test_published_scores_become_traits_that_segments_use(copy: Path):
    out = json.loads(rfm(copy, "--as-of", AS_OF, "--publish", "--format", "json"))
    assert out["published"]["accepted"] == out["customers"] and out["published"]["failed"] == 0
    again = json.loads(rfm(copy, "--as-of", AS_OF, "--publish", "--format", "json"))
    assert again["published"]["accepted"] == 0 and again["published"]["duplicates"] == out["customers"]

    config = load_config(copy / "segmint.yaml")
    with Store(copy / "segmint.duckdb") as store:
        scores = rfm_scores(store, config, DEFAULT_NOW).set_index("profile_id")
        rows = store.query("SELECT profile_id, traits FROM profiles").to_pylist()
        traits = {r["profile_id"]: orjson.loads(r["traits"]) for r in rows}
        for profile_id, row in scores.iterrows():
            assert {k: traits[profile_id][k] for k in TRAITS} == {k: row[k] for k in TRAITS}
        segments = load_segments({"keep": {"trait": "rfm_segment", "in": ["Champions", "Cannot Lose Them"]}})
        members = evaluate_duckdb(store.cursor(), segments, config.identity, DEFAULT_NOW)["keep"]
    expected = scores.index[scores["rfm_segment"].isin(["Champions", "Cannot Lose Them"])]
    assert sorted(members) == sorted(expected) and members
