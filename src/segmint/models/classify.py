"""The estimators: LightGBM with calibrated probabilities, and the baselines.

All follow the scikit-learn contract (parameters stored unchanged in
``__init__``, ``fit`` returns ``self``, learned state ends in ``_``) and
take pandas frames whose columns are the feature names.

- :class:`BoostedClassifier`: a LightGBM classifier whose scores are
  calibrated on out-of-fold predictions (``CalibratedClassifierCV`` with
  ``ensemble=False``: isotonic or sigmoid fitted on 3-fold predictions,
  then one booster refitted on all the data). Its SHAP values come from
  that one booster, in log-odds.
- :class:`BoostedRegressor`: a LightGBM regressor (spend), SHAP in currency.
- :class:`RecencyRule`: days since the last event of one kind, alone;
  a one-variable logistic fit on its logarithm turns it into a probability
  without changing its ranking.
- :func:`logistic_baseline`: logistic regression on all features
  (signed log, median imputation with missing-value indicators, scaling).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

BIAS = "(bias)"


def _lightgbm_params(est: Any) -> dict[str, Any]:
    return {
        "n_estimators": est.n_estimators,
        "learning_rate": est.learning_rate,
        "num_leaves": est.num_leaves,
        "min_child_samples": est.min_child_samples,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "random_state": est.random_state,
        "n_jobs": est.n_jobs,
        "verbose": -1,
    }


def _contributions(booster: Any, X: pd.DataFrame) -> pd.DataFrame:
    values = booster.predict(X, pred_contrib=True)
    return pd.DataFrame(values, index=X.index, columns=[*X.columns, BIAS])


class BoostedClassifier(ClassifierMixin, BaseEstimator):
    def __init__(
        self,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        calibration: str = "isotonic",
        cv: int = 3,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration = calibration
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: Any) -> BoostedClassifier:
        from lightgbm import LGBMClassifier

        y = np.asarray(y, dtype=int)
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        booster = LGBMClassifier(**_lightgbm_params(self))
        self.calibrated_ = CalibratedClassifierCV(booster, method=self.calibration, cv=folds, ensemble=False)
        self.calibrated_.fit(X, y)
        self.booster_ = self.calibrated_.calibrated_classifiers_[0].estimator
        self.classes_ = self.calibrated_.classes_
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
        return self.calibrated_.predict_proba(X[list(self.feature_names_in_)])

    def predict(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """SHAP values per feature (log-odds of the uncalibrated booster), plus the bias."""
        return _contributions(self.booster_, X[list(self.feature_names_in_)])


class BoostedRegressor(RegressorMixin, BaseEstimator):
    def __init__(
        self,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: Any) -> BoostedRegressor:
        from lightgbm import LGBMRegressor

        self.booster_ = LGBMRegressor(**_lightgbm_params(self)).fit(X, np.asarray(y, dtype=float))
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
        # Spend is never negative; a tree ensemble fitted by least squares can dip below.
        return np.clip(self.booster_.predict(X[list(self.feature_names_in_)]), 0.0, None)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """SHAP values per feature in the target's unit (before the clip at 0), plus the bias."""
        return _contributions(self.booster_, X[list(self.feature_names_in_)])


class RecencyRule(ClassifierMixin, BaseEstimator):
    """Days since the last order (or another recency column), alone.

    The one-variable logistic fit learns only the direction and the scale
    (churn rises with the days, propensity falls), so the rule ranks
    profiles by recency alone. Missing values (never ordered) count as
    twice the longest time seen in training.
    """

    def __init__(self, column: str = "days_since_last_order") -> None:
        self.column = column

    def _x(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
        days = X[self.column].to_numpy(dtype=float)
        return np.log1p(np.nan_to_num(np.clip(days, 0, None), nan=self.fill_))[:, None]

    def fit(self, X: pd.DataFrame, y: Any) -> RecencyRule:
        seen = X[self.column].to_numpy(dtype=float)
        self.fill_ = 2.0 * float(np.nanmax(seen)) if np.isfinite(seen).any() else 1.0
        self.logistic_ = LogisticRegression(C=1e6).fit(self._x(X), np.asarray(y, dtype=int))
        self.classes_ = self.logistic_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
        return self.logistic_.predict_proba(self._x(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray[Any, Any]:
        return self.logistic_.predict(self._x(X))


def _signed_log(values: Any) -> Any:
    return np.sign(values) * np.log1p(np.abs(values))


def logistic_baseline() -> Pipeline:
    return make_pipeline(
        FunctionTransformer(_signed_log, feature_names_out="one-to-one"),
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
