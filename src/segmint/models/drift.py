"""Population stability: has what a model sees moved since it was trained?

The population stability index of a variable compares its distribution in
a *reference* sample (the model's training data) with a *current* one, on
bins fixed by the reference: deciles of its values, plus one bin for
missing values. With shares ``e`` (reference) and ``a`` (current) per bin,

    PSI = sum over bins of (a - e) * ln(a / e)

It is 0 for identical shares, positive otherwise, grows as the current
distribution moves away, and is symmetric in ``e`` and ``a`` on the same
bins (swapping which sample is the reference changes the bins, so the
index is symmetric only approximately then). Empty bins are floored at
``EPSILON`` so the logarithm stays finite. Rules of thumb: below 0.1 no
real change, 0.1-0.25 a moderate one, above 0.25 a large one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

EPSILON = 1e-4
BINS = 10


@dataclass(frozen=True)
class Bins:
    """Inner edges of the reference's quantile bins, and the reference's shares (last: missing)."""

    edges: tuple[float, ...]
    shares: tuple[float, ...]

    @classmethod
    def of(cls, values: Any, bins: int = BINS) -> Bins:
        x = np.asarray(values, dtype=float)
        finite = x[np.isfinite(x)]
        quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]) if len(finite) else np.array([])
        edges = tuple(float(e) for e in np.unique(quantiles))
        return cls(edges, tuple(float(s) for s in shares(x, edges)))

    def psi(self, values: Any) -> float:
        return psi(np.asarray(self.shares), shares(np.asarray(values, dtype=float), self.edges))


def shares(values: np.ndarray[Any, Any], edges: tuple[float, ...]) -> np.ndarray[Any, Any]:
    """The share of values in each bin ``(-inf, e1], (e1, e2], ..., (ek, inf)``, then missing."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.zeros(len(edges) + 2)
    finite = np.isfinite(values)
    counts = np.bincount(np.searchsorted(edges, values[finite], side="left"), minlength=len(edges) + 1)
    return np.append(counts, (~finite).sum()) / len(values)


def psi(expected: np.ndarray[Any, Any], actual: np.ndarray[Any, Any], epsilon: float = EPSILON) -> float:
    """The population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype=float), epsilon, None)
    a = np.clip(np.asarray(actual, dtype=float), epsilon, None)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass(frozen=True)
class Reference:
    """What a model was trained on, binned: per feature, and its predictions."""

    features: dict[str, Bins]
    predictions: Bins

    @classmethod
    def of(cls, features: pd.DataFrame, predictions: Any) -> Reference:
        return cls({name: Bins.of(features[name]) for name in features.columns}, Bins.of(predictions))


@dataclass(frozen=True)
class DriftReport:
    """PSI per feature and of the predictions; stale when the predictions or any feature moved too far."""

    features: dict[str, float]
    predictions: float
    threshold: float
    drifted: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return self.predictions > self.threshold or bool(self.drifted)

    def as_dict(self) -> dict[str, Any]:
        ranked = dict(sorted(self.features.items(), key=lambda kv: -kv[1]))
        return {
            "predictions_psi": self.predictions,
            "max_feature_psi": max(self.features.values(), default=0.0),
            "threshold": self.threshold,
            "drifted_features": self.drifted,
            "stale": self.stale,
            "features": ranked,
        }


def drift(reference: Reference, features: pd.DataFrame, predictions: Any, threshold: float) -> DriftReport:
    per_feature = {name: bins.psi(features[name]) for name, bins in reference.features.items() if name in features}
    drifted = sorted((n for n, v in per_feature.items() if v > threshold), key=lambda n: -per_feature[n])
    return DriftReport(per_feature, reference.predictions.psi(predictions), threshold, drifted)
