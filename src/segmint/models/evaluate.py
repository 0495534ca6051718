"""The figures a model is judged by, as plain dicts of floats.

Classifiers: ROC AUC (ranking), PR AUC (average precision: ranking where
positives are rare), Brier score (calibration and sharpness: the mean
squared error of the probabilities) and lift in the top decile (how many
times the base rate the 10% highest scores hold). Regressions: MAE, RMSE
and the Pearson and Spearman correlations of prediction and outcome.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def lift_at(y: np.ndarray[Any, Any], score: np.ndarray[Any, Any], share: float = 0.1) -> float:
    """Positive rate among the ``share`` highest scores, over the overall positive rate.

    Ties at the boundary are broken by a stable sort on the score, so a
    constant score has lift 1 only in expectation; rank-equal scores make
    the top decile ambiguous, which no rule can fix.
    """
    y = np.asarray(y, dtype=float)
    base = y.mean()
    if base == 0 or len(y) == 0:
        return float("nan")
    top = max(1, int(round(len(y) * share)))
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    return float(y[order[:top]].mean() / base)


def classification_metrics(y: np.ndarray[Any, Any], probability: np.ndarray[Any, Any]) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    p = np.asarray(probability, dtype=float)
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "lift_top_decile": lift_at(y, p, 0.1),
        "n": int(len(y)),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
    }


def regression_metrics(actual: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any]) -> dict[str, float]:
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    varied = len(a) > 2 and a.std() > 0 and p.std() > 0
    return {
        "mae": float(np.abs(a - p).mean()),
        "rmse": float(np.sqrt(((a - p) ** 2).mean())),
        "pearson": float(pearsonr(a, p)[0]) if varied else float("nan"),
        "spearman": float(spearmanr(a, p)[0]) if varied else float("nan"),
        "n": int(len(a)),
        "actual_mean": float(a.mean()) if len(a) else float("nan"),
        "predicted_mean": float(p.mean()) if len(p) else float("nan"),
    }
