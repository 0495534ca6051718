"""Clustering profiles into named personas, and the model that assigns new ones.

:func:`cluster_profiles` takes a feature table (one row per profile, as
:func:`segmint.learn.features.load_features` gives it) and returns a
:class:`Clustering`: every profile's cluster (and probability, and outlier
flag), each cluster's persona, how k was chosen and how stable the result
is across resamples. Its ``model`` (a :class:`ClusterModel`: the fitted
preparation, the fitted method and the persona names) is what the registry
saves and what assigns profiles seen later.

Cluster ids are canonical: ``0`` is the largest cluster, ``1`` the next,
and so on (HDBSCAN's noise is ``-1``), so the same partition always gets
the same ids however the method happened to number it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from segmint.learn.features import Kind
from segmint.learn.methods import (
    METHODS,
    NOISE,
    ClusteringError,
    HierarchicalPartition,
    fit_partition,
    sample_rows,
    threads_for,
)
from segmint.learn.personas import ClusterPersona, differences, name_clusters
from segmint.learn.prepare import FeaturePreparer, Impute, Outliers
from segmint.learn.selection import DEFAULT_KS, KSelection, choose_k

Method = Literal["kmeans", "gmm", "hierarchical", "hdbscan"]
OnStep = Callable[[str, int, int], None]  # (step, done, total)
STABILITY_ROWS = 5_000


@dataclass(frozen=True)
class Stability:
    """Adjusted Rand index between the clustering and refits on bootstrap resamples."""

    runs: list[float]
    rows: int

    @property
    def mean(self) -> float:
        return float(np.mean(self.runs)) if self.runs else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "bootstrap_ari_mean": round(self.mean, 4),
            "bootstrap_ari_min": round(min(self.runs), 4) if self.runs else None,
            "runs": [round(r, 4) for r in self.runs],
            "rows": self.rows,
        }


@dataclass
class ClusterModel:
    """Everything needed to place a profile in a cluster: saved in the model registry."""

    method: str
    features: list[str]
    kinds: dict[str, Kind]
    preparer: FeaturePreparer
    partition: Any
    relabel: dict[int, int]  # the method's label -> canonical cluster id
    names: dict[int, str] = field(default_factory=dict)
    micro_relabel: dict[int, str] = field(default_factory=dict)  # hierarchical: micro index -> "2.1"
    never_order_days: float | None = None  # how the training features measured "never ordered"

    def _ids(self, raw: np.ndarray) -> np.ndarray:
        # A lookup table indexed by label + 1, so noise (-1) is slot 0.
        table = np.full(max(self.relabel, default=0) + 2, NOISE, dtype=np.int64)
        for label, new in self.relabel.items():
            table[label + 1] = new
        raw = np.asarray(raw, dtype=np.int64)
        inside = (raw >= NOISE) & (raw + 1 < len(table))
        return np.where(inside, table[np.clip(raw + 1, 0, len(table) - 1)], NOISE)

    def _name_table(self, ids: np.ndarray) -> dict[int, str]:
        return {int(i): self.names.get(int(i), str(i)) for i in np.unique(ids)}

    def assign(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each profile's ``cluster_id``, ``cluster_name``, ``probability`` (NaN without one), ``outlier``."""
        return self.assign_matrix(frame.index, self.preparer.transform(frame[self.features]))

    def assign_matrix(self, index: pd.Index, matrix: np.ndarray) -> pd.DataFrame:
        ids = self._ids(self.partition.predict(matrix))
        probability = self.partition.probability(matrix)
        out = pd.DataFrame(
            {
                "cluster_id": ids,
                "cluster_name": pd.Series(ids, dtype=np.int64).map(self._name_table(ids)).to_numpy(dtype=object),
                "probability": probability if probability is not None else np.nan,
                "outlier": self.preparer.flag_outliers(matrix),
            },
            index=index,
        )
        if isinstance(self.partition, HierarchicalPartition):
            micro = pd.Series(self.partition.micro(matrix), dtype=np.int64)
            out["micro_segment"] = micro.map(lambda m: self.micro_relabel.get(int(m), "")).to_numpy(dtype=object)
        return out

    @property
    def has_probability(self) -> bool:
        return self.method in ("gmm", "hdbscan")


@dataclass
class Clustering:
    model: ClusterModel
    assignments: pd.DataFrame
    personas: list[ClusterPersona]
    selection: KSelection | None = None
    stability: Stability | None = None
    micro_segments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def k(self) -> int:
        return sum(1 for p in self.personas if p.id != NOISE)

    def summary(self) -> dict[str, Any]:
        """The result as plain data: what ``segmint cluster --format json`` prints."""
        clusters = [p.as_dict() for p in self.personas]
        for cluster in clusters:
            cluster["micro_segments"] = [m for m in self.micro_segments if m["cluster_id"] == cluster["id"]]
        return {
            "k": self.k,
            "method": self.model.method,
            "features": self.model.features,
            "profiles": len(self.assignments),
            "outliers": int(self.assignments["outlier"].sum()),
            "clusters": clusters,
            "k_selection": self.selection.as_dict() if self.selection else None,
            "stability": self.stability.as_dict() if self.stability else None,
        }


def canonical_ids(labels: np.ndarray, matrix: np.ndarray) -> dict[int, int]:
    """Method labels renumbered by size (largest first; ties by centre), noise kept at -1."""
    order = []
    for label in np.unique(labels):
        if label == NOISE:
            continue
        members = labels == label
        order.append((-int(members.sum()), tuple(np.round(matrix[members].mean(axis=0), 9)), int(label)))
    relabel = {label: new for new, (_, _, label) in enumerate(sorted(order))}
    relabel[NOISE] = NOISE
    return relabel


def bootstrap_stability(
    matrix: np.ndarray,
    method: str,
    k: int | None,
    reference: Any,
    runs: int,
    *,
    rows: int = STABILITY_ROWS,
    random_state: int = 0,
    on_run: Callable[[int], None] | None = None,
) -> Stability:
    """Refit on ``runs`` bootstrap resamples of a sample and compare each with ``reference`` on it."""
    rng = np.random.default_rng(random_state + 1)
    sample = sample_rows(matrix, rows, rng)
    expected = reference.predict(sample)
    scores = []
    with threads_for(len(sample)):
        for run in range(runs):
            resample = sample[rng.integers(0, len(sample), len(sample))]
            refit = fit_partition(method, resample, k, random_state + run + 1)
            scores.append(float(adjusted_rand_score(expected, refit.predict(sample))))
            if on_run is not None:
                on_run(run + 1)
    return Stability(scores, len(sample))


def cluster_profiles(
    frame: pd.DataFrame,
    method: Method = "kmeans",
    k: int | Literal["auto"] = "auto",
    *,
    kinds: dict[str, Kind] | None = None,
    impute: Impute = "knn",
    outliers: Outliers = "isolation_forest",
    ks: tuple[int, ...] = DEFAULT_KS,
    stability_runs: int = 5,
    random_state: int = 0,
    on_step: OnStep | None = None,
) -> Clustering:
    """Prepare ``frame``'s features, cluster them, and name the clusters.

    ``k="auto"`` chooses k (see :mod:`segmint.learn.selection`); hdbscan
    finds its own number. Every row of ``frame`` gets a cluster: outliers
    are flagged in the ``outlier`` column, never dropped.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if len(frame) < 2:
        raise ClusteringError(
            f"clustering needs at least 2 profiles with events, got {len(frame)}; check --as-of and the store"
        )
    with threads_for(len(frame)):
        return _cluster(frame, method, k, kinds, impute, outliers, ks, stability_runs, random_state, on_step)


def _cluster(
    frame: pd.DataFrame,
    method: Method,
    k: int | Literal["auto"],
    kinds: dict[str, Kind] | None,
    impute: Impute,
    outliers: Outliers,
    ks: tuple[int, ...],
    stability_runs: int,
    random_state: int,
    on_step: OnStep | None,
) -> Clustering:
    step = on_step or (lambda name, done, total: None)
    preparer = FeaturePreparer(kinds, impute=impute, outliers=outliers, random_state=random_state).fit(frame)
    matrix = preparer.transform(frame)
    step("prepare", 1, 1)
    selection = None
    if method == "hdbscan":
        chosen: int | None = None
    elif k == "auto":
        candidates = tuple(c for c in ks if c < len(frame))
        selection = choose_k(
            matrix, method, candidates, random_state=random_state,
            on_k=lambda c: step("choose k", candidates.index(c) + 1, len(candidates)),
        )  # fmt: skip
        chosen = selection.chosen
    else:
        chosen = int(k)
    partition = fit_partition(method, matrix, chosen, random_state)
    relabel = canonical_ids(partition.predict(matrix), matrix)
    model = ClusterModel(method, list(frame.columns), dict(preparer.kinds_), preparer, partition, relabel)
    model.never_order_days = frame.attrs.get("never_order_days")
    step("fit", 1, 1)
    assignments = model.assign_matrix(frame.index, matrix)
    step("assign", 1, 1)
    personas = name_clusters(frame, model.kinds, assignments["cluster_id"].to_numpy())
    model.names = {p.id: p.name for p in personas}
    assignments["cluster_name"] = assignments["cluster_id"].map(model.names)
    step("personas", 1, 1)
    micro: list[dict[str, Any]] = []
    if isinstance(partition, HierarchicalPartition):
        micro = _micro_segments(model, frame, matrix, assignments)
    stability = None
    if stability_runs > 0:
        stability = bootstrap_stability(
            matrix, method, chosen, partition, stability_runs, random_state=random_state,
            on_run=lambda r: step("stability", r, stability_runs),
        )  # fmt: skip
    return Clustering(model, assignments, personas, selection, stability, micro)


def _micro_segments(
    model: ClusterModel, frame: pd.DataFrame, matrix: np.ndarray, assignments: pd.DataFrame
) -> list[dict[str, Any]]:
    """Name each micro-segment ``cluster.n`` (by size within its cluster) and describe it."""
    partition = model.partition
    micro = partition.micro(matrix)
    ids = assignments["cluster_id"].to_numpy()
    segments = []
    for cluster_id in sorted(set(ids.tolist())):
        members = micro[ids == cluster_id]
        counts = pd.Series(members).value_counts()
        for n, (index, size) in enumerate(counts.items()):
            label = f"{cluster_id}.{n}"
            model.micro_relabel[int(index)] = label
            inside = micro == index
            found = differences(frame, model.kinds, inside)
            segments.append(
                {"id": label, "cluster_id": int(cluster_id), "size": int(size),
                 "description": "; ".join(d.text for d in found[:2])}
            )  # fmt: skip
    assignments["micro_segment"] = [model.micro_relabel.get(int(m), "") for m in micro]
    return segments
