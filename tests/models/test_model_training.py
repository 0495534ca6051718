"""Churn, propensity and learned CLV on the demo shop, against their baselines."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from segmint.models.features import FeatureSpec
from segmint.models.training import Snapshots, TrainingError, train

from segmint.models.training import TrainSettings

# Few trees, one thread: the tests check behaviour, not the last point of AUC.
FAST = TrainSettings(n_estimators=60, n_jobs=1)

HORIZON = timedelta(days=90)


@pytest.fixture(scope="module")
def snapshots(demo):
    return Snapshots(demo.store, demo.config.identity, FeatureSpec(traits=("age",)))


@pytest.fixture(scope="module")
def churn(demo, snapshots):
    return train(demo.store, demo.config.identity, "churn", end=demo.now, horizon=HORIZON,
                 spec=snapshots.spec, settings=FAST, snapshots=snapshots)


def test_churn_beats_both_baselines_on_roc_auc(churn):
    models = churn.metrics["models"]
    lightgbm = models["lightgbm"]["roc_auc"]
    recency = models["recency (days_since_last_order)"]["roc_auc"]
    assert lightgbm > models["logistic"]["roc_auc"], models
    assert lightgbm > recency, models
    assert lightgbm > 0.85


def test_the_report_has_every_figure_for_every_model(churn):
    for name, figures in churn.metrics["models"].items():
        assert set(figures) >= {"roc_auc", "pr_auc", "brier", "lift_top_decile", "n", "positive_rate"}, name
        assert 0 <= figures["brier"] <= 1 and figures["lift_top_decile"] >= 0
    assert churn.metrics["test"]["rows"] == churn.metrics["models"]["lightgbm"]["n"]


def test_the_split_tests_on_the_window_after_training(churn):
    split = churn.split
    assert split.train_cutoff + HORIZON == split.test_cutoff
    assert split.test_cutoff + HORIZON == split.end


def test_probabilities_are_probabilities_and_explanations_add_up(demo, churn, snapshots):
    features = snapshots.features(demo.now)
    p = churn.model.predict(features)
    assert len(p) == int((features["orders_total"] > 0).sum())
    assert ((p >= 0) & (p <= 1)).all()
    # SHAP values and the bias add up to the booster's raw log-odds.
    X = churn.model.population(features)[churn.model.features]
    contributions = churn.model.contributions(X)
    raw = churn.model.estimator.booster_.predict(X, raw_score=True)
    np.testing.assert_allclose(contributions.sum(axis=1), raw, rtol=1e-6, atol=1e-6)
    ranking = list(churn.metrics["importance"].values())
    assert ranking == sorted(ranking, reverse=True)


def test_propensity_ranks_future_buyers_first(demo, snapshots):
    result = train(demo.store, demo.config.identity, "propensity", end=demo.now, horizon=HORIZON,
                   spec=snapshots.spec, settings=FAST, snapshots=snapshots)
    models = result.metrics["models"]
    assert models["lightgbm"]["roc_auc"] > 0.8
    assert models["lightgbm"]["lift_top_decile"] > 1.5


def test_learned_clv_is_compared_with_bgnbd_on_the_holdout(demo, snapshots):
    result = train(demo.store, demo.config.identity, "clv", end=demo.now, horizon=HORIZON,
                   spec=snapshots.spec, settings=FAST, snapshots=snapshots)
    models = result.metrics["models"]
    assert set(models) == {"lightgbm", "bgnbd_gamma_gamma", "last_year_pace"}
    for figures in models.values():
        assert math.isfinite(figures["mae"]) and figures["rmse"] >= figures["mae"]
    assert models["bgnbd_gamma_gamma"]["pearson"] > 0.3
    assert models["lightgbm"]["pearson"] > 0.3
    assert result.model.lifetime is not None


def test_too_little_history_is_refused_with_a_fix(demo, snapshots):
    with pytest.raises(TrainingError, match="two horizons of history"):
        train(demo.store, demo.config.identity, "churn", end=demo.now, horizon=timedelta(days=400),
              spec=snapshots.spec, settings=FAST, snapshots=snapshots)
