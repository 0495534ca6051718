"""``--k auto``: how many clusters, by silhouette, elbow and BIC, on samples so it scales.

For each candidate k the method is fitted on a sample of at most
``fit_rows`` rows, and scored three ways:

- **silhouette** on a second sample of at most ``score_rows`` of those rows
  (the full silhouette costs n² distances: hours at a million profiles,
  while a few thousand rows estimate it to about ±0.01);
- **inertia**, the within-cluster sum of squares on the fitting sample,
  whose *elbow* is the k farthest below the straight line from the first
  to the last point of the curve (the "kneedle" rule);
- **BIC** for Gaussian mixtures (lower is better).

The chosen k is the silhouette's best: of the three it is the only one
that compares separation with cohesion, and it is the one that recovers
planted groups in our tests. The elbow and the BIC are shown next to it so
a reader can see when they disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import silhouette_score

from segmint.learn.methods import ClusteringError, GaussianMixturePartition, fit_partition, sample_rows, threads_for

DEFAULT_KS: tuple[int, ...] = tuple(range(2, 11))


@dataclass(frozen=True)
class KPoint:
    k: int
    silhouette: float | None
    inertia: float
    bic: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"k": self.k, "silhouette": self.silhouette, "inertia": self.inertia, "bic": self.bic}


@dataclass(frozen=True)
class KSelection:
    chosen: int
    by: str
    elbow: int | None
    best_bic: int | None
    best_silhouette: int | None
    curve: list[KPoint] = field(default_factory=list)
    fit_rows: int = 0
    score_rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "by": self.by,
            "silhouette_best": self.best_silhouette,
            "elbow": self.elbow,
            "bic_best": self.best_bic,
            "fit_rows": self.fit_rows,
            "score_rows": self.score_rows,
            "curve": [p.as_dict() for p in self.curve],
        }


def inertia(matrix: np.ndarray, labels: np.ndarray) -> float:
    """Within-cluster sum of squared distances to each cluster's mean."""
    total = 0.0
    for label in np.unique(labels):
        members = matrix[labels == label]
        total += float(((members - members.mean(axis=0)) ** 2).sum())
    return total


def elbow(ks: Sequence[int], values: Sequence[float]) -> int | None:
    """The knee of a decreasing curve: the point farthest below its chord."""
    if len(ks) < 3:
        return None
    x = (np.asarray(ks, float) - ks[0]) / (ks[-1] - ks[0])
    y = np.asarray(values, float)
    span = y[0] - y[-1]
    if span <= 0:
        return None
    y = (y - y[-1]) / span  # 1 at the first k, 0 at the last
    gap = (1 - x) - y  # the chord runs from (0, 1) to (1, 0)
    return int(ks[int(np.argmax(gap))])


def _score(method: str, sample: np.ndarray, score_index: np.ndarray, k: int, random_state: int) -> KPoint:
    partition = fit_partition(method, sample, k, random_state)
    labels = partition.predict(sample)
    scored = labels[score_index]
    silhouette = (
        float(silhouette_score(sample[score_index], scored)) if 1 < len(np.unique(scored)) < len(score_index) else None
    )
    bic = partition.bic(sample) if isinstance(partition, GaussianMixturePartition) else None
    return KPoint(k, silhouette, inertia(sample, labels), bic)


def choose_k(
    matrix: np.ndarray,
    method: str = "kmeans",
    ks: Sequence[int] = DEFAULT_KS,
    *,
    fit_rows: int = 20_000,
    score_rows: int = 4_000,
    random_state: int = 0,
    on_k: Callable[[int], None] | None = None,
) -> KSelection:
    """Score every k in ``ks`` (those below the row count) and choose one."""
    rng = np.random.default_rng(random_state)
    fit_sample = sample_rows(matrix, fit_rows, rng)
    score_index = (
        np.arange(len(fit_sample))
        if len(fit_sample) <= score_rows
        else rng.choice(len(fit_sample), score_rows, replace=False)
    )
    curve = []
    with threads_for(len(fit_sample)):
        for k in [k for k in ks if 2 <= k < len(fit_sample)]:
            curve.append(_score(method, fit_sample, score_index, k, random_state))
            if on_k is not None:
                on_k(k)
    if not curve:
        raise ClusteringError(f"too few profiles ({len(matrix)}) to choose a number of clusters; give --k")
    scored_points = [p for p in curve if p.silhouette is not None]
    best_silhouette = max(scored_points, key=lambda p: p.silhouette or 0.0).k if scored_points else None
    bics = [p for p in curve if p.bic is not None]
    best_bic = min(bics, key=lambda p: p.bic or 0.0).k if bics else None
    knee = elbow([p.k for p in curve], [p.inertia for p in curve])
    chosen, by = (best_silhouette, "silhouette") if best_silhouette is not None else (knee or curve[0].k, "elbow")
    return KSelection(chosen, by, knee, best_bic, best_silhouette, curve, len(fit_sample), len(score_index))
