"""Customer lifetime value: BG/NBD purchases, Gamma-Gamma spend, and the summaries they fit.

summary = summarise(transactions, "1997-09-30", time_unit=TimeUnit.W)
purchases = BGNBDModel().fit(summary["frequency"], summary["recency"], summary["T"])
repeat = summary[summary["frequency"] > 0]
spend = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
"""

from segmint.models.clv.bgnbd import (
    BGNBDModel,
    BGNBDParams,
    conditional_expected_purchases,
    expected_purchases,
    probability_alive,
)
from segmint.models.clv.gamma_gamma import (
    GammaGammaModel,
    GammaGammaParams,
    PurchasePredictor,
    conditional_expected_spend,
    customer_lifetime_value,
)
from segmint.models.clv.summary import TimeUnit, TransactionColumns, purchase_days, summarise

__all__ = [
    "BGNBDModel",
    "BGNBDParams",
    "GammaGammaModel",
    "GammaGammaParams",
    "PurchasePredictor",
    "TimeUnit",
    "TransactionColumns",
    "conditional_expected_purchases",
    "conditional_expected_spend",
    "customer_lifetime_value",
    "expected_purchases",
    "probability_alive",
    "purchase_days",
    "summarise",
]
