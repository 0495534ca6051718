"""Registry, scoring, traits and segments end to end; drift, retraining; the CLI's JSON."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
import typer
from typer.testing import CliRunner

from segmint.cli import commands
from segmint.config import load_config
from segmint.config.model import ModelsConfig
from segmint.demo import DEFAULT_NOW
from segmint.models.lifecycle import check_drift, maintain, train_and_register
from segmint.models.registry import STALE, find_model, list_models
from segmint.models.scoring import TRAITS, explain, load_active, publish, score
from segmint.segments.batch import evaluate_duckdb
from segmint.segments.parse import load_segments
from segmint.store.store import Store

from segmint.models.training import TrainSettings

# Few trees, one thread: the tests check behaviour, not the last point of AUC.
FAST = TrainSettings(n_estimators=60, n_jobs=1)


def _config(directory, **models):
    config = load_config(directory / "segmint.yaml")
    return config.model_copy(update={"models": ModelsConfig.model_validate(models)})


def test_scores_become_traits_that_segments_use(demo_copy):
    config = _config(demo_copy)
    with Store(demo_copy / "segmint.duckdb") as store:
        train_and_register(store, config, ("churn", "clv"), DEFAULT_NOW, settings=FAST)
        assert [r.name for r in list_models(store)] == ["churn", "clv"]
        scores = score(store, config.identity, load_active(store), DEFAULT_NOW)
        assert {"churn_probability", "predicted_clv", "probability_alive"} <= set(scores.columns) <= set(TRAITS)
        report = publish(store, config.identity, scores, DEFAULT_NOW)
        assert report.accepted == len(scores)
        loaded = load_segments({
            "at_risk": {"trait": "churn_probability", "gte": 0.7},
            "valuable_at_risk": {"all": [{"trait": "churn_probability", "gte": 0.5}, {"trait": "predicted_clv", "gte": 100}]},
        })
        members = evaluate_duckdb(store.cursor(), loaded, config.identity, DEFAULT_NOW)
        traits = {r["profile_id"]: orjson.loads(r["traits"]) for r in store.query("SELECT profile_id, traits FROM profiles").to_pylist()}
    expected = sorted(p for p, v in scores["churn_probability"].items() if v >= 0.7)
    assert expected and members["at_risk"] == expected
    both = scores[(scores["churn_probability"] >= 0.5) & (scores["predicted_clv"] >= 100)]
    assert members["valuable_at_risk"] == sorted(both.index)
    some = expected[0]
    assert traits[some]["churn_probability"] == pytest.approx(scores.loc[some, "churn_probability"])


def test_drift_is_zero_at_training_and_marks_the_model_stale_later(demo_copy):
    config = _config(demo_copy, churn={"drift_threshold": 0.25})
    trained_at = DEFAULT_NOW - timedelta(days=60)
    with Store(demo_copy / "segmint.duckdb") as store:
        train_and_register(store, config, ("churn",), trained_at, settings=FAST)
        _, at_training = check_drift(store, config, "churn", trained_at)
        assert at_training.predictions == 0 and max(at_training.features.values()) == 0 and not at_training.stale
        record, later = check_drift(store, config, "churn", DEFAULT_NOW)
        assert later.stale and later.drifted and record.status == STALE
        assert find_model(store, "churn").status == STALE
        # Retraining replaces the stale version; a fresh one is kept.
        report = maintain(store, config, DEFAULT_NOW, only_stale=True, settings=FAST, score_after=False)
        churn = next(d for d in report["decisions"] if d["model"] == "churn")
        assert churn["retrain"] and churn["reason"].startswith("stale")
        assert find_model(store, "churn").version == 2
        again = maintain(store, config, DEFAULT_NOW + timedelta(hours=1), only_stale=True, settings=FAST, score_after=False)
        assert not next(d for d in again["decisions"] if d["model"] == "churn")["retrain"]


def test_explaining_one_profile(demo_copy):
    config = _config(demo_copy)
    with Store(demo_copy / "segmint.duckdb") as store:
        train_and_register(store, config, ("churn",), DEFAULT_NOW, settings=FAST)
        record, model = load_active(store)["churn"]
        scores = score(store, config.identity, {"churn": (record, model)}, DEFAULT_NOW)
        riskiest = scores["churn_probability"].idxmax()
        why = explain(store, config.identity, record, model, riskiest, DEFAULT_NOW, top=5)
    assert why["profile_id"] == riskiest and why["prediction"] == pytest.approx(scores.loc[riskiest, "churn_probability"])
    shown = [c["contribution"] for c in why["contributions"]]
    assert len(shown) == 5 and [abs(c) for c in shown] == sorted((abs(c) for c in shown), reverse=True)


def test_the_cli_json_contract(demo_copy):
    app = typer.Typer()
    commands.register(app)
    runner = CliRunner()
    common = ["--config", str(demo_copy / "segmint.yaml"), "--db", str(demo_copy / "segmint.duckdb"), "--format", "json"]
    at = ["--as-of", DEFAULT_NOW.isoformat()]

    def run(*args: str) -> dict:
        result = runner.invoke(app, ["models", *args, *common])
        assert result.exit_code == 0, result.output
        return orjson.loads(result.output)

    trained = run("train", "churn", "--trees", "40", *at)
    assert [m["name"] for m in trained["models"]] == ["churn"]
    model = trained["models"][0]
    assert set(model) >= {"name", "version", "kind", "trained_at", "window_start", "window_end", "features", "metrics", "params", "status"}
    assert set(model["metrics"]["models"]) == {"lightgbm", "logistic", "recency (days_since_last_order)"}
    listed = run("list")
    assert [(m["name"], m["version"], m["status"]) for m in listed["models"]] == [("churn", 1, "active")]
    assert run("show", "churn")["metrics"] == model["metrics"]
    scored = run("score", *at)
    assert scored["models"] == {"churn": 1} and scored["traits"]["churn_probability"]["profiles"] > 0
    overall = run("explain", "churn")
    assert overall["importance"][0]["feature"] == next(iter(model["metrics"]["importance"]))
    drifted = run("drift", "churn", *at)
    assert drifted["models"]["churn"]["predictions_psi"] == 0
    unknown = runner.invoke(app, ["models", "train", "loyalty", *common])
    assert unknown.exit_code != 0 and "churn, propensity, clv" in unknown.output


def test_a_maintenance_run_resolves_identities_once_per_instant(demo_copy, monkeypatch):
    """Drift checks, training and scoring share one book of snapshots: nothing is resolved twice."""
    from segmint.models import features, scoring, training

    config = _config(demo_copy)
    resolved: list = []
    real = features.identities_at

    def counted(store, identity, at):
        resolved.append(at)
        return real(store, identity, at)

    for module in (features, scoring, training):
        monkeypatch.setattr(module, "identities_at", counted)
    with Store(demo_copy / "segmint.duckdb") as store:
        train_and_register(store, config, ("churn",), DEFAULT_NOW - timedelta(days=60), settings=FAST)
        resolved.clear()
        report = maintain(store, config, DEFAULT_NOW, settings=FAST)
    assert any(d["retrain"] for d in report["decisions"]) and report["published"]
    assert resolved and len(resolved) == len(set(resolved))
