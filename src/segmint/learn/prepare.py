"""Turning a feature table into the matrix a clustering sees.

:class:`FeaturePreparer` is a scikit-learn estimator (``fit`` learns, state
ends in ``_``) built from scikit-learn pipelines:

1. by kind of column: counts, money and day spans are skewed (a few
   customers order a hundred times), so they are ``log1p``-ed and then
   standardised; other numbers are standardised; categorical traits are
   filled with ``"(missing)"`` and one-hot encoded (unknown categories at
   prediction time encode as all zeros);
2. missing numbers are imputed in the scaled space, where distances mean
   something: ``knn`` (``KNNImputer``, the default, fitted on at most
   ``max_fit_rows`` rows so that it scales) or a ``SimpleImputer``
   strategy the user picks (``mean``, ``median``, ``most_frequent``);
3. outliers are *flagged*, never dropped: ``isolation_forest`` (default),
   ``lof`` (Local Outlier Factor, as a novelty detector so new profiles can
   be judged) or ``none``; the detector's threshold flags the most unusual
   ``outlier_share`` (1%) of the rows it was fitted on. Every profile keeps
   its row and its cluster.

The fitted preparer is saved with the clustering model, so profiles
assigned later are prepared exactly as the ones it was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import IsolationForest
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from segmint.learn.features import SKEWED, Kind, kind_of
from segmint.learn.methods import sample_rows

Impute = Literal["knn", "mean", "median", "most_frequent"]
Outliers = Literal["isolation_forest", "lof", "none"]
IMPUTE_CHOICES: tuple[str, ...] = ("knn", "mean", "median", "most_frequent")
OUTLIER_CHOICES: tuple[str, ...] = ("isolation_forest", "lof", "none")
MISSING_CATEGORY = "(missing)"


def _log1p(values: Any) -> Any:
    return np.log1p(np.clip(np.asarray(values, dtype=np.float64), 0, None))


class FeaturePreparer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Scale, encode, impute and flag outliers; see the module docstring."""

    def __init__(
        self,
        kinds: Mapping[str, Kind] | None = None,
        impute: Impute = "knn",
        outliers: Outliers = "isolation_forest",
        outlier_share: float = 0.01,
        max_fit_rows: int = 20_000,
        random_state: int = 0,
    ) -> None:
        self.kinds = kinds
        self.impute = impute
        self.outliers = outliers
        self.outlier_share = outlier_share
        self.max_fit_rows = max_fit_rows
        self.random_state = random_state

    def fit(self, frame: pd.DataFrame, y: Any = None) -> "FeaturePreparer":
        if self.impute not in IMPUTE_CHOICES:
            raise ValueError(f"impute must be one of {', '.join(IMPUTE_CHOICES)}, not {self.impute!r}")
        if self.outliers not in OUTLIER_CHOICES:
            raise ValueError(f"outliers must be one of {', '.join(OUTLIER_CHOICES)}, not {self.outliers!r}")
        given = dict(self.kinds or {})
        self.kinds_ = {name: given.get(name) or kind_of(name, frame[name]) for name in frame.columns}
        self.feature_names_in_ = np.array(list(frame.columns), dtype=object)
        self.columns_ = self._columns().fit(frame)
        scaled = self.columns_.transform(frame)
        rng = np.random.default_rng(self.random_state)
        sample = sample_rows(scaled, self.max_fit_rows, rng)
        self.imputer_ = (
            KNNImputer(n_neighbors=5, keep_empty_features=True)
            if self.impute == "knn"
            else SimpleImputer(strategy=self.impute, keep_empty_features=True)
        ).fit(sample)
        self.detector_ = self._detector(self.imputer_.transform(sample))
        return self

    def _columns(self) -> ColumnTransformer:
        skewed = [n for n, k in self.kinds_.items() if k in SKEWED]
        numeric = [n for n, k in self.kinds_.items() if k == "number"]
        categorical = [n for n, k in self.kinds_.items() if k == "category"]
        parts: list[tuple[str, Any, list[str]]] = []
        if skewed:
            log = FunctionTransformer(_log1p, feature_names_out="one-to-one")
            parts.append(("skewed", Pipeline([("log1p", log), ("scale", StandardScaler())]), skewed))
        if numeric:
            parts.append(("numeric", StandardScaler(), numeric))
        if categorical:
            encode = Pipeline(
                [
                    ("fill", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
                    ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                ]
            )
            parts.append(("category", encode, categorical))
        return ColumnTransformer(parts, sparse_threshold=0.0, verbose_feature_names_out=False)

    def _detector(self, sample: np.ndarray) -> Any:
        if self.outliers == "isolation_forest":
            # 50 trees rank the unusual rows as 100 do, at half the cost of
            # scoring every profile (8 s a million rows with 100 trees here).
            return IsolationForest(
                n_estimators=50, contamination=self.outlier_share, random_state=self.random_state
            ).fit(sample)
        if self.outliers == "lof" and len(sample) > 2:
            neighbours = min(20, len(sample) - 1)
            return LocalOutlierFactor(n_neighbors=neighbours, contamination=self.outlier_share, novelty=True).fit(sample)
        return None

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The prepared matrix: one row per profile, in the frame's order."""
        matrix = self.imputer_.transform(self.columns_.transform(frame[list(self.feature_names_in_)]))
        return np.asarray(matrix, dtype=np.float64)

    def flag_outliers(self, matrix: np.ndarray) -> np.ndarray:
        """A boolean per row of a prepared matrix: True where the detector finds it unusual."""
        if self.detector_ is None or len(matrix) == 0:
            return np.zeros(len(matrix), dtype=bool)
        return np.asarray(self.detector_.predict(matrix) == -1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(self.columns_.get_feature_names_out(), dtype=object)
