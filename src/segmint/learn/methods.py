"""The clustering methods, each behind the same small interface.

A method is fitted on a prepared matrix and then *predicts*: it places any
row, including a profile it has never seen, in one of its clusters. That
one capability serves the whole product: real-time assignment of new
profiles, ``--k auto`` (fit on a sample, score on another) and stability
(refit on resamples, compare on the same rows).

=================  ==============================================  ===========
method             fitted on                                       probability
=================  ==============================================  ===========
``kmeans``         all rows (``MiniBatchKMeans`` above            no
                   ``LARGE`` rows, started from a sample's
                   k-means centres)
``gmm``            at most ``SAMPLE_GMM`` rows                    yes
``hierarchical``   Ward linkage of at most ``SAMPLE_TREE`` rows;  no
                   the tree is cut at k clusters and, further
                   down, at micro-segments nested in them; rows
                   go to the nearest micro-segment centre
``hdbscan``        at most ``SAMPLE_DENSITY`` rows; others take   yes
                   their nearest fitted neighbour's cluster;
                   ``-1`` is noise
=================  ==============================================  ===========

Labels here are the method's own; :mod:`segmint.learn.cluster` renames
them canonically (by size).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import HDBSCAN, KMeans, MiniBatchKMeans
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from segmint.errors import SegmintError

METHODS: tuple[str, ...] = ("kmeans", "gmm", "hierarchical", "hdbscan")
LARGE = 100_000
SAMPLE_KMEANS_INIT = 50_000
SAMPLE_GMM = 100_000
SAMPLE_TREE = 4_000
SAMPLE_DENSITY = 10_000
MICRO_PER_CLUSTER = 3
NOISE = -1
SMALL = 50_000  # below this many rows, one thread is faster than several


def threads_for(rows: int) -> AbstractContextManager[Any]:
    """Limit OpenMP/BLAS to one thread for small data.

    k-means on a few thousand rows takes milliseconds of work; spreading
    it over threads costs more in start-up and, on a loaded machine, in
    waiting for every thread to be scheduled (we measured 30x slower).
    """
    return threadpool_limits(limits=1 if rows < SMALL else None)


class ClusteringError(SegmintError):
    """The profiles cannot be clustered as asked (too few of them, for instance)."""


class Partition(Protocol):
    """A fitted clustering: it labels rows of a prepared matrix."""

    n_clusters: int

    def predict(self, matrix: np.ndarray) -> np.ndarray: ...

    def probability(self, matrix: np.ndarray) -> np.ndarray | None:
        """Each row's probability of its own cluster, where the method has one."""
        ...


def sample_rows(matrix: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``size`` rows of ``matrix``, drawn without replacement (all of them when it is smaller)."""
    return matrix if len(matrix) <= size else matrix[rng.choice(len(matrix), size, replace=False)]


class KMeansPartition:
    def __init__(self, matrix: np.ndarray, k: int, random_state: int = 0) -> None:
        self.n_clusters = k
        if len(matrix) <= LARGE:
            self.estimator = KMeans(n_clusters=k, n_init=4, random_state=random_state).fit(matrix)
        else:
            # Seeding from a sample's k-means gives mini-batch k-means a
            # good start, so a few passes over the full data suffice.
            rng = np.random.default_rng(random_state)
            seed = KMeans(n_clusters=k, n_init=3, random_state=random_state).fit(
                sample_rows(matrix, SAMPLE_KMEANS_INIT, rng)
            )
            self.estimator = MiniBatchKMeans(
                n_clusters=k, init=seed.cluster_centers_, n_init=1, batch_size=8192,
                max_iter=20, random_state=random_state,
            ).fit(matrix)  # fmt: skip
        self.centres = self.estimator.cluster_centers_

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict(matrix))

    def probability(self, matrix: np.ndarray) -> np.ndarray | None:
        return None


class GaussianMixturePartition:
    def __init__(self, matrix: np.ndarray, k: int, random_state: int = 0) -> None:
        self.n_clusters = k
        rng = np.random.default_rng(random_state)
        self.estimator = GaussianMixture(
            n_components=k, covariance_type="full", n_init=2, reg_covar=1e-4, random_state=random_state
        ).fit(sample_rows(matrix, SAMPLE_GMM, rng))

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict(matrix))

    def membership(self, matrix: np.ndarray) -> np.ndarray:
        """Every row's probability of every component (rows sum to 1)."""
        return np.asarray(self.estimator.predict_proba(matrix))

    def probability(self, matrix: np.ndarray) -> np.ndarray | None:
        return self.membership(matrix).max(axis=1)

    def bic(self, matrix: np.ndarray) -> float:
        return float(self.estimator.bic(matrix))


class HierarchicalPartition:
    """Ward clusters with micro-segments nested under each (cuts of one tree)."""

    def __init__(self, matrix: np.ndarray, k: int, random_state: int = 0) -> None:
        rng = np.random.default_rng(random_state)
        sample = sample_rows(matrix, SAMPLE_TREE, rng)
        tree = linkage(sample, method="ward")
        top = fcluster(tree, t=k, criterion="maxclust")
        fine = fcluster(tree, t=min(len(sample), k * MICRO_PER_CLUSTER), criterion="maxclust")
        # Cuts of one tree nest: each micro-segment lies inside one cluster.
        micro_ids = np.unique(fine)
        self.centres = np.array([sample[fine == m].mean(axis=0) for m in micro_ids])
        parents = np.array([np.bincount(top[fine == m]).argmax() for m in micro_ids])
        _, self.parent = np.unique(parents, return_inverse=True)
        self.n_clusters = int(self.parent.max()) + 1

    def micro(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's micro-segment (an index into ``centres``)."""
        out = np.empty(len(matrix), dtype=np.int64)
        for start in range(0, len(matrix), 65_536):
            block = matrix[start : start + 65_536]
            distance = ((block[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
            out[start : start + len(block)] = distance.argmin(axis=1)
        return out

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.parent[self.micro(matrix)])

    def probability(self, matrix: np.ndarray) -> np.ndarray | None:
        return None


class DensityPartition:
    """HDBSCAN; k is what it finds, and rows in no dense region are noise (-1)."""

    def __init__(self, matrix: np.ndarray, k: int | None = None, random_state: int = 0) -> None:
        rng = np.random.default_rng(random_state)
        sample = sample_rows(matrix, SAMPLE_DENSITY, rng)
        fitted = HDBSCAN(min_cluster_size=max(5, len(sample) // 50), min_samples=5, copy=True).fit(sample)
        self.labels = np.asarray(fitted.labels_)
        self.strength = np.asarray(fitted.probabilities_)
        self.neighbours = NearestNeighbors(n_neighbors=1).fit(sample)
        self.n_clusters = int(self.labels.max()) + 1

    def _nearest(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.neighbours.kneighbors(matrix, return_distance=False)[:, 0])

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return self.labels[self._nearest(matrix)]

    def probability(self, matrix: np.ndarray) -> np.ndarray | None:
        return self.strength[self._nearest(matrix)]


def fit_partition(method: str, matrix: np.ndarray, k: int | None, random_state: int = 0) -> Any:
    """Fit ``method`` with ``k`` clusters (ignored by hdbscan)."""
    if method == "hdbscan":
        return DensityPartition(matrix, None, random_state)
    if k is None or k < 1:
        raise ValueError(f"{method} needs a number of clusters of at least 1, got {k}")
    k = min(k, len(matrix))
    kinds = {"kmeans": KMeansPartition, "gmm": GaussianMixturePartition, "hierarchical": HierarchicalPartition}
    if method not in kinds:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    return kinds[method](matrix, k, random_state)
