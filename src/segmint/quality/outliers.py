"""Unusual profiles: the outliers the clustering's feature pipeline flags, with the reason.

The clustering preparation (``learn/prepare.py``) flags outliers with
Isolation Forest or LOF and never drops them. The quality report lists
them so a person can look: a profile with 400 orders in a week is a bot,
a reseller or an import error more often than a customer. The preparer of
the active clustering model in the registry is used when there is one (the
same judgement the clusters were built with); otherwise one is fitted on
the default behavioural features at ``as_of``.

Why a profile is unusual is told by its most extreme prepared features:
the ones furthest from the population in standard deviations (after the
log scaling of counts and money), with the raw value beside them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from segmint.learn.features import load_features, words
from segmint.learn.prepare import FeaturePreparer

REASONS = 3  # features named per outlier


def find_outliers(store: Any, as_of: datetime, *, share: float = 0.01) -> tuple[pd.DataFrame, str]:
    """``(outliers, source)``: one row per flagged profile, most unusual first, and which pipeline judged.

    Columns: ``profile_id``, ``distance`` (the largest absolute z-score) and
    ``reasons`` (a list of ``{feature, value, z}``).
    """
    preparer, features, source = _preparer(store, as_of, share)
    frame = load_features(store, as_of, features)
    if frame.empty:
        return pd.DataFrame(columns=["profile_id", "distance", "reasons"]), source
    if preparer is None:
        preparer = FeaturePreparer(outlier_share=share).fit(frame)
    matrix = preparer.transform(frame[features])
    flagged = preparer.flag_outliers(matrix)
    return explain(frame, matrix, preparer, flagged), source


def _preparer(store: Any, as_of: datetime, share: float) -> tuple[FeaturePreparer | None, list[str], str]:
    from segmint.learn.assign import MODEL_NAME
    from segmint.learn.features import DEFAULT_FEATURES
    from segmint.models.registry import ModelNotFoundError, load_model

    try:
        record, model = load_model(store, MODEL_NAME)
    except ModelNotFoundError:
        return None, list(DEFAULT_FEATURES), f"a pipeline fitted now on {', '.join(DEFAULT_FEATURES)} (the most unusual {share:.0%})"
    return model.preparer, list(model.features), f"the active clustering model ({MODEL_NAME} v{record.version})"


def explain(frame: pd.DataFrame, matrix: np.ndarray, preparer: FeaturePreparer, flagged: np.ndarray) -> pd.DataFrame:
    """The flagged rows with their most extreme prepared features (pure: tested directly)."""
    names = list(preparer.get_feature_names_out())
    z = np.asarray(matrix, dtype=np.float64)
    rows = []
    for i in np.flatnonzero(flagged):
        order = np.argsort(-np.abs(z[i]))[:REASONS]
        reasons = []
        for j in order:
            name = names[j]
            raw = frame.iloc[i][name] if name in frame.columns else None  # one-hot columns have no raw value
            reasons.append({"feature": name, "value": None if pd.isna(raw) else raw, "z": round(float(z[i, j]), 2)})
        rows.append({"profile_id": str(frame.index[i]), "distance": round(float(np.abs(z[i]).max()), 2), "reasons": reasons})
    out = pd.DataFrame(rows, columns=["profile_id", "distance", "reasons"])
    return out.sort_values(["distance", "profile_id"], ascending=[False, True], kind="stable").reset_index(drop=True)


def describe(reasons: list[dict[str, Any]]) -> str:
    """``orders 45 (+6.1 sd); spend 12,400 (+5.2 sd)``."""

    def shown(value: Any) -> str:
        if isinstance(value, (int, float, np.number)):
            number = float(value)
            return f"{number:,.0f}" if abs(number) >= 10 or number.is_integer() else f"{number:.2f}"
        return "-" if value is None else str(value)

    return "; ".join(f"{words(r['feature'])} {shown(r['value'])} ({r['z']:+.1f} sd)" for r in reasons)
