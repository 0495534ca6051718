"""Training the predictive models: churn, purchase propensity, learned CLV.

Each task is trained and judged the same way (see ``labels.Split``):

1. features as of ``T1`` with labels from ``(T1, T2]`` train every
   candidate: LightGBM and the baselines;
2. features as of ``T2`` with labels from ``(T2, end]`` test them, so the
   report compares them on the same future they never saw;
3. the LightGBM model kept for scoring is refitted on both snapshots
   (the most recent behaviour included); its drift reference is the
   population it first scores, at ``end``, and its predictions there.

The result, a :class:`PredictiveModel`, is what the registry stores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from segmint.clock import as_utc
from segmint.config.model import IdentityConfig
from segmint.errors import SegmintError
from segmint.models.classify import (
    BIAS,
    BoostedClassifier,
    BoostedRegressor,
    RecencyRule,
    logistic_baseline,
)
from segmint.models.drift import Reference
from segmint.models.evaluate import classification_metrics, regression_metrics
from segmint.models.features import FeatureSpec, build_features, identities_at, orders_until
from segmint.models.labels import Split, build_labels
from segmint.models.lifetime import LifetimeModel


class TrainingError(SegmintError):
    """A model cannot be trained on this data (too little history, one class only)."""


@dataclass(frozen=True)
class Task:
    """What one model predicts, for whom, and which traits its scores become."""

    name: str
    kind: str
    traits: tuple[str, ...]
    population: Callable[[pd.DataFrame], pd.Series]
    target: Callable[[pd.DataFrame], pd.Series]
    description: str


def _buyers(features: pd.DataFrame) -> pd.Series:
    return features["orders_total"] > 0


def _everyone(features: pd.DataFrame) -> pd.Series:
    return pd.Series(True, index=features.index)


TASKS: dict[str, Task] = {
    "churn": Task(
        "churn", "lightgbm-classifier", ("churn_probability",), _buyers, lambda lab: (lab["orders"] == 0).astype(int),
        "customers who had ordered by the cutoff: no order in the next horizon",
    ),
    "propensity": Task(
        "propensity", "lightgbm-classifier", ("purchase_propensity",), _everyone,
        lambda lab: (lab["orders"] > 0).astype(int),
        "every profile seen by the cutoff: at least one order in the next horizon",
    ),
    "clv": Task(
        "clv", "lightgbm-regressor", ("predicted_clv", "probability_alive"), _buyers, lambda lab: lab["spend"],
        "customers who had ordered by the cutoff: spend in the next horizon (vs BG/NBD + Gamma-Gamma)",
    ),
}


@dataclass(frozen=True)
class TrainSettings:
    """LightGBM settings; tests use few trees and one thread."""

    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 20
    calibration: str = "isotonic"
    random_state: int = 0
    n_jobs: int = 1

    def classifier(self) -> BoostedClassifier:
        return BoostedClassifier(
            self.n_estimators, self.learning_rate, self.num_leaves, self.min_child_samples,
            self.calibration, random_state=self.random_state, n_jobs=self.n_jobs,
        )

    def regressor(self) -> BoostedRegressor:
        return BoostedRegressor(
            self.n_estimators, self.learning_rate, self.num_leaves, self.min_child_samples,
            random_state=self.random_state, n_jobs=self.n_jobs,
        )


@dataclass
class PredictiveModel:
    """A trained task: the estimator, what it reads, and its drift reference."""

    task: str
    spec: FeatureSpec
    horizon_days: float
    estimator: Any
    reference: Reference
    lifetime: LifetimeModel | None = None

    @property
    def features(self) -> list[str]:
        return self.spec.names

    def population(self, features: pd.DataFrame) -> pd.DataFrame:
        return features[TASKS[self.task].population(features)]

    def predict(self, features: pd.DataFrame) -> pd.Series:
        """The score of each profile of the task's population (probability, or spend)."""
        X = self.population(features)[self.features]
        if hasattr(self.estimator, "predict_proba"):
            values = self.estimator.predict_proba(X)[:, 1] if len(X) else np.array([])
        else:
            values = self.estimator.predict(X) if len(X) else np.array([])
        return pd.Series(values, index=X.index, name=TASKS[self.task].traits[0])

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        return self.estimator.contributions(self.population(features)[self.features])


@dataclass(frozen=True)
class Trained:
    model: PredictiveModel
    metrics: dict[str, Any]
    params: dict[str, Any]
    split: Split


@dataclass
class Snapshots:
    """Identities, features and labels per instant, each computed once."""

    store: Any
    identity: IdentityConfig
    spec: FeatureSpec
    _ids: dict[datetime, pa.Table] = field(default_factory=dict)
    _features: dict[datetime, pd.DataFrame] = field(default_factory=dict)

    def ids(self, at: datetime) -> pa.Table:
        at = as_utc(at)
        if at not in self._ids:
            self._ids[at] = identities_at(self.store, self.identity, at)
        return self._ids[at]

    def features(self, at: datetime) -> pd.DataFrame:
        at = as_utc(at)
        if at not in self._features:
            self._features[at] = build_features(self.store, self.identity, at, self.spec, ids=self.ids(at))
        return self._features[at]

    def labels(self, at: datetime, horizon: timedelta) -> pd.DataFrame:
        return build_labels(self.store, self.identity, at, horizon, self.spec, cutoff_ids=self.ids(at))

    def orders(self, at: datetime) -> pd.DataFrame:
        return orders_until(self.store, self.ids(at), at, self.spec)


@dataclass
class SnapshotBook:
    """One :class:`Snapshots` per feature spec (a saved model keeps the spec it was trained with)."""

    store: Any
    identity: IdentityConfig
    _by_spec: dict[FeatureSpec, Snapshots] = field(default_factory=dict)

    def for_spec(self, spec: FeatureSpec) -> Snapshots:
        if spec not in self._by_spec:
            self._by_spec[spec] = Snapshots(self.store, self.identity, spec)
        return self._by_spec[spec]


def _dataset(snapshots: Snapshots, task: Task, at: datetime, horizon: timedelta) -> tuple[pd.DataFrame, pd.Series]:
    features = snapshots.features(at)
    X = features[task.population(features)]
    labels = snapshots.labels(at, horizon).reindex(X.index).fillna(0)
    return X, task.target(labels)


def importance(contributions: pd.DataFrame) -> dict[str, float]:
    """Mean |SHAP| per feature, largest first: the model's global ranking."""
    mean = contributions.drop(columns=[BIAS]).abs().mean().sort_values(ascending=False)
    return {name: float(value) for name, value in mean.items()}


def train(
    store: Any,
    identity: IdentityConfig,
    task_name: str,
    *,
    end: datetime,
    horizon: timedelta,
    spec: FeatureSpec = FeatureSpec(),
    settings: TrainSettings = TrainSettings(),
    snapshots: Snapshots | None = None,
) -> Trained:
    """Train, test against the baselines, and refit ``task_name`` with data up to ``end``."""
    if task_name not in TASKS:
        raise TrainingError(f"no model task {task_name!r}; the tasks are {', '.join(TASKS)}")
    task = TASKS[task_name]
    split = Split.ending(end, horizon)
    snapshots = snapshots or Snapshots(store, identity, spec)
    X_train, y_train = _dataset(snapshots, task, split.train_cutoff, horizon)
    X_test, y_test = _dataset(snapshots, task, split.test_cutoff, horizon)
    _check(task, split, X_train, y_train, X_test, y_test)
    if task.kind == "lightgbm-classifier":
        scores, final = _classifiers(task, settings, X_train, y_train, X_test, y_test)
        lifetime = None
    else:
        scores, final, lifetime = _regressors(snapshots, split, settings, X_train, y_train, X_test, y_test)
    # The drift reference is the population the model first scores, at the
    # end of training: PSI then measures how far it has moved since.
    model = PredictiveModel(task.name, spec, horizon.total_seconds() / 86400, final, Reference.of(X_test, []), lifetime)
    now = snapshots.features(split.end)
    model.reference = Reference.of(model.population(now)[model.features], model.predict(now))
    metrics = {
        "task": task.description,
        "train": {"rows": len(X_train), "target_mean": float(np.mean(y_train))},
        "test": {"rows": len(X_test), "target_mean": float(np.mean(y_test))},
        "models": scores,
        "importance": importance(final.contributions(X_test)),
    }
    params = {"split": split.as_dict(), "settings": asdict(settings), "spec": asdict(spec)}
    if lifetime is not None:
        params["bgnbd"] = asdict(lifetime.purchases)
        params["gamma_gamma"] = asdict(lifetime.spend) if lifetime.spend else None
    return Trained(model, metrics, params, split)


def _check(task: Task, split: Split, X_train: pd.DataFrame, y_train: pd.Series, X_test: pd.DataFrame, y_test: pd.Series) -> None:
    too_few = min(len(X_train), len(X_test)) < 20
    one_class = task.kind == "lightgbm-classifier" and (y_train.nunique() < 2 or y_test.nunique() < 2)
    if too_few or one_class:
        raise TrainingError(
            f"cannot train {task.name}: {len(X_train)} profiles at {split.train_cutoff:%Y-%m-%d} and {len(X_test)} "
            f"at {split.test_cutoff:%Y-%m-%d}" + (", and the outcome never varies" if one_class else "")
            + f"; the model needs two horizons of history before {split.end:%Y-%m-%d} "
            "(choose a shorter horizon or a later --as-of)"
        )


def _classifiers(
    task: Task, settings: TrainSettings, X_train: pd.DataFrame, y_train: pd.Series, X_test: pd.DataFrame, y_test: pd.Series
) -> tuple[dict[str, Any], BoostedClassifier]:
    recency = "days_since_last_order" if task.name == "churn" else "days_since_last_seen"
    candidates: dict[str, Any] = {
        "lightgbm": settings.classifier(),
        "logistic": logistic_baseline(),
        f"recency ({recency})": RecencyRule(recency),
    }
    scores = {}
    for name, estimator in candidates.items():
        estimator.fit(X_train, y_train)
        scores[name] = classification_metrics(y_test.to_numpy(), estimator.predict_proba(X_test)[:, 1])
    final = settings.classifier().fit(pd.concat([X_train, X_test]), pd.concat([y_train, y_test]))
    return scores, final


def _regressors(
    snapshots: Snapshots,
    split: Split,
    settings: TrainSettings,
    X_train: pd.DataFrame,
    y_train: pd.Series,
    X_test: pd.DataFrame,
    y_test: pd.Series,
) -> tuple[dict[str, Any], BoostedRegressor, LifetimeModel]:
    horizon_days = split.horizon.total_seconds() / 86400
    learned = settings.regressor().fit(X_train, y_train)
    orders = snapshots.orders(split.test_cutoff)
    statistical = LifetimeModel.fit(orders, split.test_cutoff)
    expected = statistical.predict(orders, split.test_cutoff, horizon_days)["expected_spend"]
    predictions = {
        "lightgbm": learned.predict(X_test),
        "bgnbd_gamma_gamma": expected.reindex(X_test.index).fillna(0.0).to_numpy(),
        "last_year_pace": X_test["spend_365d"].to_numpy() * horizon_days / 365.0,
    }
    scores = {name: regression_metrics(y_test.to_numpy(), p) for name, p in predictions.items()}
    final = settings.regressor().fit(pd.concat([X_train, X_test]), pd.concat([y_train, y_test]))
    lifetime = LifetimeModel.fit(snapshots.orders(split.end), split.end)
    return scores, final, lifetime
