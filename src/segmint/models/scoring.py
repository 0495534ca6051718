"""Scores as traits, and why a profile got its score.

``score`` applies the active models to every profile's features at an
instant; ``publish`` writes the scores as traits (``churn_probability``,
``purchase_propensity``, ``predicted_clv``, ``probability_alive``) through
``traits.publish`` and refreshes the profiles, so segments can use them
(``trait: churn_probability, gte: 0.7``). A profile outside a model's
population (churn of someone who never ordered) gets no value, published
as null, which clears an older one. ``explain`` breaks one profile's score
into per-feature SHAP contributions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from segmint.clock import as_utc
from segmint.config.model import IdentityConfig
from segmint.errors import NotFoundError
from segmint.models.classify import BIAS
from segmint.models.features import build_features, identities_at
from segmint.models.registry import ModelNotFoundError, ModelRecord, load_model
from segmint.models.training import TASKS, PredictiveModel, SnapshotBook
from segmint.traits.publish import PublishReport, publish_to_store

PRODUCER = "models"
TRAITS: tuple[str, ...] = tuple(t for task in TASKS.values() for t in task.traits)

Loaded = dict[str, tuple[ModelRecord, PredictiveModel]]


def load_active(store: Any, names: tuple[str, ...] = tuple(TASKS)) -> Loaded:
    """The newest usable version of each task that has one (stale ones included: still the best we have)."""
    loaded: Loaded = {}
    for name in names:
        try:
            loaded[name] = load_model(store, name)
        except ModelNotFoundError:
            continue
    return loaded


def score(
    store: Any, identity: IdentityConfig, models: Loaded, at: datetime, book: SnapshotBook | None = None
) -> pd.DataFrame:
    """One row per profile seen by ``at`` (``profile_id`` index), one column per trait.

    ``book``: features already computed (a maintenance run shares them with
    its drift checks and training).
    """
    at = as_utc(at)
    book = book or SnapshotBook(store, identity)
    frame: pd.DataFrame | None = None
    for name, (_, model) in models.items():
        taken = book.for_spec(model.spec)
        features = taken.features(at)
        if frame is None:
            frame = pd.DataFrame(index=features.index)
        frame[TASKS[name].traits[0]] = model.predict(features)
        if model.lifetime is not None:
            orders = taken.orders(at)
            if len(orders):
                alive = model.lifetime.predict(orders, at, model.horizon_days)["probability_alive"]
                frame["probability_alive"] = alive.reindex(frame.index)
    if frame is None:
        raise ModelNotFoundError("no model to score with; train them first with `segmint models train`")
    return frame


def publish(store: Any, identity: IdentityConfig, scores: pd.DataFrame, at: datetime) -> PublishReport:
    """Publish ``scores`` as traits stamped ``at`` and bring the profiles up to date."""
    values = scores.reset_index().rename(columns={"index": "profile_id"})
    return publish_to_store(store, identity, values, producer=PRODUCER, at=as_utc(at))


def _profile_at(store: Any, identity: IdentityConfig, any_id: str, at: datetime) -> str:
    ids = identities_at(store, identity, at).to_pandas()
    found = ids.loc[(ids["value"] == any_id) | (ids["profile_id"] == any_id), "profile_id"].unique()
    if not len(found):
        raise NotFoundError(f"no profile has the id {any_id!r} at {at.isoformat()}")
    return str(found[0])


def explain(
    store: Any, identity: IdentityConfig, record: ModelRecord, model: PredictiveModel, any_id: str, at: datetime, top: int = 10
) -> dict[str, Any]:
    """One profile's score and the features that pushed it up or down, largest first."""
    at = as_utc(at)
    profile = _profile_at(store, identity, any_id, at)
    features = build_features(store, identity, at, model.spec)
    row = features.loc[[profile]] if profile in features.index else features.iloc[0:0]
    if row.empty or model.population(row).empty:
        raise NotFoundError(
            f"profile {profile} is not in the population of {record.name} at {at.isoformat()} "
            f"({TASKS[record.name].description})"
        )
    contributions = model.contributions(row).iloc[0]
    prediction = float(model.predict(row).iloc[0])
    ranked = contributions.drop(BIAS).sort_values(key=np.abs, ascending=False)
    unit = "log-odds" if hasattr(model.estimator, "predict_proba") else "spend"
    return {
        "model": record.name,
        "version": record.version,
        "profile_id": profile,
        "at": at,
        "prediction": prediction,
        "trait": TASKS[record.name].traits[0],
        "unit": unit,
        "base_value": float(contributions[BIAS]),
        "contributions": [
            {"feature": name, "value": _plain(row.iloc[0][name]), "contribution": float(value)}
            for name, value in ranked.head(top).items()
        ],
        "others": float(ranked.iloc[top:].sum()),
    }


def _plain(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
