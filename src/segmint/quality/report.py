"""The quality report as plain data, for ``--format json``, the tables and the demo."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A row with pandas' missing values (NaN) as None."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def quality_report(
    dictionary: pd.DataFrame,
    duplicates: pd.DataFrame,
    as_of: datetime,
    pairs: int = 20,
    outliers: tuple[pd.DataFrame, str] | None = None,
) -> dict[str, Any]:
    """Every dictionary row, the duplicate candidates (the best ``pairs`` listed), and the outliers (as many)."""
    report = {
        "as_of": as_of,
        "items": [plain(row) for row in dictionary.to_dict(orient="records")],
        "duplicates": duplicates_summary(duplicates, pairs),
    }
    if outliers is not None:
        found, source = outliers
        report["outliers"] = {
            "source": source,
            "count": len(found),
            "profiles": [plain(row) for row in found.head(pairs).to_dict(orient="records")],
        }
    return report


def duplicates_summary(duplicates: pd.DataFrame, pairs: int | None = None) -> dict[str, Any]:
    listed = duplicates if pairs is None else duplicates.head(pairs)
    return {
        "candidates": len(duplicates),
        "merge": int((duplicates["action"] == "merge").sum()),
        "review": int((duplicates["action"] == "review").sum()),
        "pairs": [plain(row) for row in listed.to_dict(orient="records")],
    }
