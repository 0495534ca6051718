"""BG/NBD + Gamma-Gamma as a predictor of spend over a horizon, for profiles.

The statistical counterpart of the learned CLV: fitted on each profile's
orders up to a cutoff (in weeks, as the papers do; in days the
optimiser meets scales it handles worse), it predicts the spend in
the next ``horizon`` as expected purchases (BG/NBD, eq. 10) times expected
spend per purchase (Gamma-Gamma, the population mean for customers without
repeat purchases), and gives each customer's probability of being alive.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from segmint.models.clv import (
    BGNBDModel,
    BGNBDParams,
    GammaGammaModel,
    GammaGammaParams,
    TimeUnit,
    conditional_expected_purchases,
    conditional_expected_spend,
    probability_alive,
    summarise,
)

UNIT = TimeUnit.W


@dataclass(frozen=True)
class LifetimeModel:
    """Fitted BG/NBD and Gamma-Gamma parameters (time in weeks)."""

    purchases: BGNBDParams
    spend: GammaGammaParams | None
    converged: bool = True

    @classmethod
    def fit(cls, orders: pd.DataFrame, cutoff: datetime) -> LifetimeModel:
        summary = summarise(orders, cutoff.date(), time_unit=UNIT)
        with warnings.catch_warnings():
            # Shops where everyone drops out alike drive a, b to the boundary; `converged`
            # records it and predict() uses the exact limit there, so the warning says nothing new.
            warnings.simplefilter("ignore", ConvergenceWarning)
            purchases = BGNBDModel().fit(summary["frequency"], summary["recency"], summary["T"])
        repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        spend = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"]) if len(repeat) > 2 else None
        usable = spend is not None and spend.params_.q > 1  # the mean spend p v / (q - 1) is finite
        return cls(purchases.params_, spend.params_ if usable and spend is not None else None, purchases.converged_)

    def predict(self, orders: pd.DataFrame, cutoff: datetime, horizon_days: float) -> pd.DataFrame:
        """Per customer with an order by ``cutoff``: probability alive, expected purchases and spend."""
        summary = summarise(orders, cutoff.date(), time_unit=UNIT)
        x, t_x, age = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
        t = horizon_days / UNIT.days
        with np.errstate(all="ignore"):
            purchases = conditional_expected_purchases(self.purchases, t, x, t_x, age)
        unusable = ~np.isfinite(purchases)
        if unusable.any():
            purchases[unusable] = _fixed_dropout_purchases(self.purchases, t, x, t_x, age)[unusable]
        per_purchase: Any = np.nan
        if self.spend is not None:
            per_purchase = conditional_expected_spend(self.spend, x, summary["monetary_value"].to_numpy(dtype=float))
        return pd.DataFrame(
            {
                "probability_alive": probability_alive(self.purchases, x, t_x, age),
                "expected_purchases": purchases,
                "expected_spend": purchases * per_purchase,
            },
            index=summary.index.astype(str),
        )


def _fixed_dropout_purchases(params: BGNBDParams, t: float, x: Any, t_x: Any, age: Any) -> Any:
    """Eq. 10 in the limit a, b -> infinity with a / (a + b) = p fixed.

    When every customer drops out after a purchase with the same
    probability p, the fit drives a and b to the boundary and eq. 10's
    hypergeometric function no longer evaluates. In that limit a customer
    alive at T with rate lambda buys (1 - exp(-p lambda t)) / p times in
    the next t; averaged over lambda's posterior Gamma(r + x, alpha + T):
    P(alive) (1 - ((alpha + T) / (alpha + T + p t))^(r + x)) / p.
    """
    p = params.a / (params.a + params.b)
    rate_scale = params.alpha + np.asarray(age, dtype=float)
    shape = params.r + np.asarray(x, dtype=float)
    alive = probability_alive(params, x, t_x, age)
    return alive * (1.0 - (rate_scale / (rate_scale + p * t)) ** shape) / p
