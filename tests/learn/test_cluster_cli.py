"""``segmint cluster``: the JSON and --out contract, traits, the registry, and assigning new profiles."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from segmint.cli import commands
from segmint.config import load_config
from segmint.config.model import Config
from segmint.demo import DEFAULT_NOW
from segmint.identity.profiles import rebuild
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.learn.assign import assign_new_profiles, profiles_to_assign
from segmint.models.registry import find_model
from segmint.server.maintenance import default_jobs
from segmint.store.store import Store

runner = CliRunner()
AS_OF = "2026-11-01T12:00:00Z"


def segmint_app() -> typer.Typer:
    app = typer.Typer()
    commands.register(app)
    return app


@pytest.fixture
def shop_copy(clustering_shop, tmp_path: Path):
    shutil.copy(clustering_shop.db_path, tmp_path / "segmint.duckdb")
    shutil.copy(clustering_shop.config_path, tmp_path / "segmint.yaml")
    return tmp_path


def run(directory: Path, *args: str):
    result = runner.invoke(
        segmint_app(),
        ["cluster", "--db", str(directory / "segmint.duckdb"), "--config", str(directory / "segmint.yaml"),
         "--as-of", AS_OF, *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def traits(directory: Path) -> pd.DataFrame:
    with Store(directory / "segmint.duckdb", read_only=True) as store:
        rows = store.query("SELECT profile_id, traits FROM profiles").to_pylist()
    return pd.DataFrame([{"profile_id": r["profile_id"], **orjson.loads(r["traits"])} for r in rows]).set_index("profile_id")


def test_json_and_out_follow_the_contract_and_become_traits(shop_copy: Path, clustering_shop) -> None:
    out = shop_copy / "clusters.csv"
    result = run(shop_copy, "--format", "json", "--out", str(out), "--stability", "2")
    summary = orjson.loads(result.stdout)
    assert summary["k"] == 5 and len(summary["clusters"]) == 5
    for cluster in summary["clusters"]:
        assert {"id", "name", "size", "description"} <= set(cluster)
        assert isinstance(cluster["id"], int) and cluster["description"]
    rows = pd.read_csv(out, dtype={"profile_id": str})
    assert list(rows.columns) == ["profile_id", "cluster_id"]  # k-means has no probability
    assert len(rows) == len(clustering_shop.truth) and rows["profile_id"].is_unique
    sizes = rows["cluster_id"].value_counts().to_dict()
    assert sizes == {c["id"]: c["size"] for c in summary["clusters"]}
    names = {c["id"]: c["name"] for c in summary["clusters"]}
    assert sorted(names.values()) == sorted(["Loyal Buyers", "Window Shoppers", "Occasional Buyers", "New Visitors", "Churned Customers"])
    published = traits(shop_copy).loc[rows["profile_id"]]
    assert (published["cluster_id"].to_numpy() == rows["cluster_id"].to_numpy()).all()
    assert (published["cluster_name"].to_numpy() == rows["cluster_id"].map(names).to_numpy()).all()
    assert summary["model"] == {"name": "clusters", "version": 1}


def test_gmm_writes_probabilities_and_a_second_fit_replaces_the_traits(shop_copy: Path) -> None:
    run(shop_copy, "--format", "json", "--stability", "0")
    out = shop_copy / "gmm.csv"
    summary = orjson.loads(run(shop_copy, "--method", "gmm", "--k", "3", "--format", "json", "--out", str(out),
                               "--stability", "0").stdout)  # fmt: skip
    rows = pd.read_csv(out, dtype={"profile_id": str})
    assert list(rows.columns) == ["profile_id", "cluster_id", "probability"]
    assert summary["k"] == 3 and rows["probability"].between(0, 1).all()
    assert summary["model"]["version"] == 2
    published = traits(shop_copy).loc[rows["profile_id"]]
    assert (published["cluster_id"].to_numpy() == rows["cluster_id"].to_numpy()).all()
    assert published["cluster_probability"].to_numpy() == pytest.approx(rows["probability"].to_numpy())


def test_tables_show_the_curve_and_bad_options_are_refused(shop_copy: Path) -> None:
    result = run(shop_copy, "--no-save", "--stability", "0")
    assert "Choosing k" in result.output and "chosen" in result.output and "Loyal Buyers" in result.output
    bad = runner.invoke(segmint_app(), ["cluster", "--db", str(shop_copy / "segmint.duckdb"), "--k", "many"])
    assert bad.exit_code != 0 and "--k" in bad.output


def test_new_and_changed_profiles_are_assigned_by_the_registered_model(shop_copy: Path) -> None:
    run(shop_copy, "--format", "json", "--stability", "0")
    config = load_config(shop_copy / "segmint.yaml")
    later = DEFAULT_NOW + timedelta(hours=1)
    stamp = later.isoformat().replace("+00:00", "Z")
    with Store(shop_copy / "segmint.duckdb") as store:
        assert profiles_to_assign(store, later) == []
        loyal = store.query(
            "SELECT profile_id FROM profiles WHERE traits->>'cluster_name' = 'Loyal Buyers' ORDER BY 1 LIMIT 1"
        ).to_pylist()[0]["profile_id"]
        visit = [
            {"type": "page", "anonymousId": "brand-new", "name": "Home", "timestamp": stamp, "messageId": "n1"},
            {"type": "track", "userId": loyal, "event": "Product Viewed", "properties": {}, "timestamp": stamp, "messageId": "n2"},
        ]
        Ingestor(store).ingest(stage([orjson.dumps(m).decode() for m in visit], Arrival("web", later, "test")))
        rebuild(store.connection, config.identity)
        assert profiles_to_assign(store, later) == sorted(["brand-new", loyal])
        report = assign_new_profiles(store, config.identity, later)
        assert report.profiles == 2 and report.version == find_model(store, "clusters").version
        assert profiles_to_assign(store, later) == []
        assert assign_new_profiles(store, config.identity, later).profiles == 0
    placed = traits(shop_copy)
    assert placed.loc["brand-new", "cluster_name"] == "New Visitors"
    assert placed.loc[loyal, "cluster_name"] == "Loyal Buyers"


def test_the_server_assigns_only_when_configured() -> None:
    assert [job.name for job in default_jobs(Config())].count("assign clusters") == 0
    jobs = [job for job in default_jobs(Config(clustering={"assign_every": "60s"})) if job.name == "assign clusters"]
    assert len(jobs) == 1 and jobs[0].every_s == 60


def test_no_profiles_by_the_instant_is_an_error_that_says_what_to_check(shop_copy: Path) -> None:
    from segmint.learn.cluster import ClusteringError

    result = runner.invoke(
        segmint_app(),
        ["cluster", "--db", str(shop_copy / "segmint.duckdb"), "--config", str(shop_copy / "segmint.yaml"),
         "--as-of", "2020-01-01T00:00:00Z", "--no-save"],
    )  # fmt: skip
    assert isinstance(result.exception, ClusteringError) and "--as-of" in str(result.exception)


def test_a_running_server_assigns_a_new_visitor_by_itself(shop_copy: Path) -> None:
    import time
    from datetime import datetime, timezone

    from segmint.server.runtime import Runtime

    run(shop_copy, "--stability", "0", "--format", "json")
    base = load_config(shop_copy / "segmint.yaml")
    config = base.model_copy(update={"clustering": base.clustering.model_copy(update={"assign_every": "1s"})})
    stamp = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    visit = {"type": "page", "anonymousId": "walk-in", "name": "Home", "timestamp": stamp, "messageId": "w1"}
    with Store(shop_copy / "segmint.duckdb") as store:
        Ingestor(store).ingest(stage([orjson.dumps(visit).decode()], Arrival("web", datetime.now(timezone.utc), "test")))
    runtime = Runtime(config, shop_copy / "segmint.duckdb")  # the jobs the configuration asks for
    runtime.start("http://127.0.0.1:1")
    try:
        deadline = time.monotonic() + 60
        name = None
        while time.monotonic() < deadline and name is None:
            rows = runtime.store.query(
                "SELECT traits->>'cluster_name' AS name FROM profiles WHERE profile_id = 'walk-in'"
            ).to_pylist()
            name = rows[0]["name"] if rows else None
            time.sleep(0.2)
        assert name == "New Visitors", runtime.maintenance.last_error
    finally:
        runtime.stop()
