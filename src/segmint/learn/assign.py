"""Clusters in the store: the registered model, its traits, and assigning new profiles.

A clustering becomes part of the profiles in three steps, all through
interfaces other capabilities share:

1. :func:`register` saves the fitted :class:`~segmint.learn.cluster.ClusterModel`
   in the model registry (name ``clusters`` by default; each fit is the
   next version);
2. :func:`publish` writes ``cluster_id``, ``cluster_name`` and
   ``cluster_probability`` as identify traits from the source ``segmint``
   (producer ``clusters-v<version>``, so a new version's values are new
   messages, not duplicates of the old one's) and refreshes the profiles;
3. :func:`assign_new_profiles` places the profiles the model has not seen,
   or that did something since they were placed, with the active model:
   the server runs it every ``clustering.assign_every`` (see
   :func:`assignment_job`), so a new visitor has a persona within a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from segmint.config.model import Config, IdentityConfig
from segmint.identity.profiles import PROFILE_EVENTS
from segmint.learn.features import load_features
from segmint.models.registry import ModelNotFoundError, ModelRecord, load_model, save_model
from segmint.traits.publish import PublishReport, publish_to_store

if TYPE_CHECKING:
    from segmint.learn.cluster import Clustering
    from segmint.server.maintenance import Job

# The clustering module (scikit-learn) is imported only when a model is
# used: the server asks for `assignment_job` at start-up whatever its
# configuration, and should not load scikit-learn for nothing.

MODEL_NAME = "clusters"
KIND = "clustering"
PRODUCER = "clusters"


def producer(version: int) -> str:
    return f"{PRODUCER}-v{version}"


def register(store: Any, clustering: Clustering, as_of: datetime, *, name: str = MODEL_NAME) -> ModelRecord:
    """Save the fitted model as the next (active) version of ``name``."""
    model = clustering.model
    summary = clustering.summary()
    metrics: dict[str, Any] = {
        "k": clustering.k,
        "sizes": {str(p.id): p.size for p in clustering.personas},
        "names": {str(p.id): p.name for p in clustering.personas},
        "outliers": summary["outliers"],
    }
    if clustering.selection is not None:
        chosen = [p for p in clustering.selection.curve if p.k == clustering.selection.chosen]
        metrics["silhouette"] = chosen[0].silhouette if chosen else None
    if clustering.stability is not None:
        metrics["bootstrap_ari_mean"] = clustering.stability.mean
    params = {
        "method": model.method,
        "impute": model.preparer.impute,
        "outliers": model.preparer.outliers,
        "never_order_days": model.never_order_days,
    }
    return save_model(store, name, KIND, model, features=model.features, metrics=metrics, params=params,
                      window=(None, as_of))  # fmt: skip


def trait_values(assignments: pd.DataFrame) -> pd.DataFrame:
    """The traits a clustering publishes, one row per profile."""
    return pd.DataFrame(
        {
            "profile_id": assignments.index.astype(str),
            "cluster_id": assignments["cluster_id"].to_numpy(),
            "cluster_name": assignments["cluster_name"].to_numpy(),
            "cluster_probability": assignments["probability"].to_numpy(),
        }
    )


def publish(
    store: Any, identity: IdentityConfig, assignments: pd.DataFrame, *, version: int, at: datetime
) -> PublishReport:
    """Publish the assignments as traits, then bring the profiles up to date."""
    return publish_to_store(store, identity, trait_values(assignments), producer=producer(version), at=at)


UNASSIGNED_SQL = f"""
SELECT profile_id
FROM ({PROFILE_EVENTS.format(events="events", identities="identities")})
WHERE event_time <= ?
GROUP BY profile_id
HAVING max(CASE WHEN source <> 'segmint' THEN event_time END)
     > coalesce(max(CASE WHEN source = 'segmint' AND json_extract_string(context, '$.producer') LIKE '{PRODUCER}-v%'
                         THEN event_time END), TIMESTAMPTZ '-infinity')
ORDER BY profile_id
"""


def profiles_to_assign(store: Any, now: datetime) -> list[str]:
    """Profiles never placed in a cluster, or with behaviour newer than their placement."""
    return [str(p) for p in store.query(UNASSIGNED_SQL, [now]).column("profile_id").to_pylist()]


@dataclass(frozen=True)
class AssignReport:
    model: str
    version: int | None
    profiles: int
    published: PublishReport | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "profiles": self.profiles,
            "published": self.published.as_dict() if self.published else None,
        }


def assign_new_profiles(store: Any, identity: IdentityConfig, now: datetime, *, name: str = MODEL_NAME) -> AssignReport:
    """Place unassigned or changed profiles with the active model and publish their traits."""
    from segmint.learn.cluster import ClusterModel

    try:
        record, model = load_model(store, name)
    except ModelNotFoundError:
        return AssignReport(name, None, 0)
    if not isinstance(model, ClusterModel):
        raise TypeError(f"model {name!r} version {record.version} is a {record.kind}, not a clustering")
    waiting = profiles_to_assign(store, now)
    if not waiting:
        return AssignReport(name, record.version, 0)
    frame = load_features(store, now, model.features, profiles=waiting, never_order_days=model.never_order_days)
    if frame.empty:
        return AssignReport(name, record.version, 0)
    assignments = model.assign(frame)
    report = publish(store, identity, assignments, version=record.version, at=now)
    return AssignReport(name, record.version, len(assignments), report)


def assignment_job(config: Config) -> Job | None:
    """The server job that assigns new profiles, when ``clustering.assign_every`` is set."""
    from segmint.server.maintenance import Job

    settings = config.clustering
    every = settings.assign_every_s
    if every is None:
        return None
    return Job(
        name="assign clusters",
        every_s=float(every),
        run=lambda context: assign_new_profiles(context.store, context.config.identity, context.now,
                                                name=settings.model),  # fmt: skip
    )
