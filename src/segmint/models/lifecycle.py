"""Living models: train and register, check drift, retrain when due, score.

One function, :func:`maintain`, is what both ``segmint models retrain``
and the ``segmint serve`` job run: for each task, a model that is missing,
stale (drift above its threshold) or older than ``retrain_every`` is
retrained and registered; then the active models score every profile and
the scores are published as traits. :func:`check_drift` compares a
model's training snapshot with the features now (PSI per feature and on
the predictions) and marks the model stale when they moved too far.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from segmint.clock import as_utc
from segmint.config.model import Config, ModelPolicy, ModelsConfig, span_seconds
from segmint.models.drift import DriftReport, drift
from segmint.models.features import FeatureSpec
from segmint.models.registry import ACTIVE, STALE, ModelRecord, find_model, load_model, save_model, set_status
from segmint.models.registry import ModelNotFoundError
from segmint.models.scoring import load_active, publish, score
from segmint.models.training import TASKS, SnapshotBook, TrainSettings, Trained, train


def models_config(config: Config) -> ModelsConfig:
    return config.models or ModelsConfig()


def feature_spec(models: ModelsConfig) -> FeatureSpec:
    return FeatureSpec(order_event=models.order_event, amount_property=models.amount_property, traits=models.traits)


def policy(models: ModelsConfig, name: str) -> ModelPolicy:
    return getattr(models, name)  # type: ignore[no-any-return]


def horizon(models: ModelsConfig, name: str) -> timedelta:
    return timedelta(seconds=span_seconds(policy(models, name).horizon))


def train_and_register(
    store: Any,
    config: Config,
    names: tuple[str, ...],
    at: datetime,
    *,
    settings: TrainSettings = TrainSettings(),
    horizon_override: timedelta | None = None,
    book: SnapshotBook | None = None,
) -> list[tuple[ModelRecord, Trained]]:
    """Train each task with data up to ``at`` and register it as the next active version."""
    models = models_config(config)
    spec = feature_spec(models)
    snapshots = (book or SnapshotBook(store, config.identity)).for_spec(spec)
    registered = []
    for name in names:
        span = horizon_override or horizon(models, name)
        trained = train(store, config.identity, name, end=at, horizon=span, spec=spec, settings=settings, snapshots=snapshots)
        record = save_model(
            store, name, TASKS[name].kind, trained.model,
            features=trained.model.features, metrics=trained.metrics, params=trained.params,
            window=(trained.split.train_cutoff, trained.split.end), trained_at=at,
        )
        registered.append((record, trained))
    return registered


def check_drift(
    store: Any, config: Config, name: str, at: datetime, *, mark: bool = True, book: SnapshotBook | None = None
) -> tuple[ModelRecord, DriftReport]:
    """PSI between the model's training snapshot and the features at ``at``; marks it stale if too large."""
    record, model = load_model(store, name)
    features = (book or SnapshotBook(store, config.identity)).for_spec(model.spec).features(at)
    population = model.population(features)
    threshold = policy(models_config(config), name).drift_threshold
    report = drift(model.reference, population[model.features], model.predict(features), threshold)
    if mark and report.stale and record.status == ACTIVE:
        set_status(store, name, record.version, STALE)
        record = find_model(store, name, record.version)
    return record, report


@dataclass(frozen=True)
class Decision:
    name: str
    reason: str | None  # why it is retrained, None when it is kept
    drift: dict[str, Any] | None = None


def due(store: Any, config: Config, name: str, at: datetime, book: SnapshotBook | None = None) -> Decision:
    """Whether ``name`` needs retraining at ``at``: missing, stale (or drifted now), or old."""
    try:
        record = find_model(store, name)
    except ModelNotFoundError:
        return Decision(name, "no model yet")
    record, report = check_drift(store, config, name, at, book=book)
    if record.status == STALE:
        return Decision(name, "stale: drift above the threshold", report.as_dict())
    every = policy(models_config(config), name).retrain_every
    if every is not None and as_utc(at) - record.trained_at >= timedelta(seconds=span_seconds(every)):
        return Decision(name, f"older than retrain_every ({every})", report.as_dict())
    return Decision(name, None, report.as_dict())


def maintain(
    store: Any,
    config: Config,
    at: datetime,
    *,
    only_stale: bool = False,
    settings: TrainSettings = TrainSettings(),
    score_after: bool = True,
) -> dict[str, Any]:
    """Retrain what is due (or, with ``only_stale``, what is missing or stale), then score and publish."""
    # One book for the run: drift checks, training and scoring read the
    # same identities and features at the same instants, so each is
    # computed once. (The run itself writes only the model registry until it
    # publishes; in a server, events arriving meanwhile are picked up by the
    # next run, as they would be by a run that had started a moment earlier.)
    book = SnapshotBook(store, config.identity)
    decisions = [due(store, config, name, at, book) for name in TASKS]
    wanted = tuple(
        d.name for d in decisions
        if d.reason is not None and (not only_stale or not d.reason.startswith("older"))
    )
    retrained = train_and_register(store, config, wanted, at, settings=settings, book=book) if wanted else []
    report: dict[str, Any] = {
        "at": as_utc(at),
        "decisions": [{"model": d.name, "retrain": d.name in wanted, "reason": d.reason, "drift": d.drift} for d in decisions],
        "retrained": [record.as_dict() for record, _ in retrained],
    }
    if score_after:
        scores = score(store, config.identity, load_active(store), at, book=book)
        report["published"] = publish(store, config.identity, scores, at).as_dict()
    return report
