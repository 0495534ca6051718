"""The Gamma-Gamma model of spend per purchase, and lifetime value.

Each purchase of a customer is worth z ~ Gamma(p, nu), independently of
how often they buy; across customers nu ~ Gamma(q, v). A customer enters
the data through x repeat purchases and their mean value m (first purchase
excluded, as in the papers). The conditional mean spend shrinks m towards
the population mean p v / (q - 1), the more the fewer purchases back it.

References: P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "RFM and CLV:
Using Iso-Value Curves for Customer Base Analysis", Journal of Marketing
Research 42(4), 415-430; B. G. S. Hardie, "The Gamma-Gamma Model of
Monetary Value" (brucehardie.com, note 025), equations 1 and 5. The papers
call v "gamma"; lifetimes calls it v, and so do we.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Protocol, Self

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln
from sklearn.exceptions import NotFittedError

from segmint.models.clv._mle import FloatArray, as_float_array, group_rows, maximise
from segmint.models.clv.summary import TimeUnit


@dataclass(frozen=True)
class GammaGammaParams:
    """p: shape of spend per purchase; q, v: shape and scale of its rate across customers."""

    p: float
    q: float
    v: float

    def as_array(self) -> FloatArray:
        return np.array(astuple(self), dtype=np.float64)

    @classmethod
    def from_array(cls, values: ArrayLike) -> GammaGammaParams:
        p, q, v = (float(value) for value in np.asarray(values, dtype=np.float64))
        return cls(p=p, q=q, v=v)


def check_spend(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validate (x, m) for fitting; raise ``ValueError`` naming the problem."""
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    if len(x) != len(m):
        raise ValueError("frequency and monetary_value must have the same length")
    if np.any(x < 1) or np.any(x != np.round(x)):
        raise ValueError(
            "Gamma-Gamma is fitted on repeat customers only: frequency must be a whole number >= 1 "
            "(select the customers with frequency > 0)"
        )
    if np.any(m <= 0):
        raise ValueError("monetary_value must be positive (drop customers whose repeat purchases net to <= 0)")
    return x, m


def _terms(params: FloatArray, x: FloatArray, m: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-customer log-density of the mean spend m (note 025, eq. 1) and its gradient, shape (n, 3)."""
    p, q, v = params
    px = p * x
    log_v_xm = np.log(v + x * m)
    log_m, log_x = np.log(m), np.log(x)
    psi_pxq = digamma(px + q)
    terms = (
        gammaln(px + q) - gammaln(px) - gammaln(q)
        + q * np.log(v) + (px - 1.0) * log_m + px * log_x - (px + q) * log_v_xm
    )
    gradient = np.stack(
        [
            x * (psi_pxq - digamma(px) + log_m + log_x - log_v_xm),
            psi_pxq - digamma(q) + np.log(v) - log_v_xm,
            q / v - (px + q) / (v + x * m),
        ],
        axis=1,
    )
    return terms, gradient


def log_likelihood_and_gradient(
    params: FloatArray, x: FloatArray, m: FloatArray, weights: FloatArray
) -> tuple[float, FloatArray]:
    """Weighted total log-likelihood and its gradient in (p, q, v)."""
    terms, gradient = _terms(params, x, m)
    return float(weights @ terms), weights @ gradient


def log_likelihood(
    params: GammaGammaParams,
    frequency: ArrayLike,
    monetary_value: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    """Total log-likelihood of repeat customers' mean spends; weights count customers."""
    x, m = check_spend(frequency, monetary_value)
    w = np.ones_like(x) if weights is None else as_float_array(weights, "weights")
    return log_likelihood_and_gradient(params.as_array(), x, m, w)[0]


def log_likelihood_gradient(
    params: GammaGammaParams,
    frequency: ArrayLike,
    monetary_value: ArrayLike,
    weights: ArrayLike | None = None,
) -> FloatArray:
    """Gradient of ``log_likelihood`` with respect to (p, q, v)."""
    x, m = check_spend(frequency, monetary_value)
    w = np.ones_like(x) if weights is None else as_float_array(weights, "weights")
    return log_likelihood_and_gradient(params.as_array(), x, m, w)[1]


def conditional_expected_spend(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """E[spend per purchase | x, m] (note 025, eq. 5): m shrunk towards p v / (q - 1).

    Written as p (v + x m) / (p x + q - 1), the weighted mean of the note
    with the weights multiplied out; for x = 0 it is the population mean.
    Finite only for q > 1 (for q <= 1 the population mean spend is infinite).
    """
    p, q, v = params.as_array()
    x, m = np.broadcast_arrays(np.asarray(frequency, dtype=np.float64), np.asarray(monetary_value, dtype=np.float64))
    return p * (v + x * m) / (p * x + q - 1.0)


class PurchasePredictor(Protocol):
    """What lifetime value needs from a purchase model (e.g. ``BGNBDModel``)."""

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray: ...


def customer_lifetime_value(
    purchases: PurchasePredictor,
    spend: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    time_unit: TimeUnit,
    months: int = 12,
    discount_rate: float = 0.01,
) -> FloatArray:
    """Discounted expected spend over the next ``months`` months, per customer.

    As lifetimes' ``customer_lifetime_value``: for each month i = 1..months,
    expected purchases in that month times expected spend per purchase,
    divided by (1 + discount_rate) ** i. A month is 30 days in every time
    unit (see ``TimeUnit``); lifetimes takes 4.345 weeks for weekly data.
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    x, t_x, age = (np.asarray(v, dtype=np.float64)[:, None] for v in (frequency, recency, T))
    ends = np.arange(months + 1, dtype=np.float64) * time_unit.per_month
    cumulative = purchases.conditional_expected_purchases(ends[None, :], x, t_x, age)
    per_month = np.diff(cumulative, axis=1)
    discount = (1.0 + discount_rate) ** -np.arange(1, months + 1, dtype=np.float64)
    return conditional_expected_spend(spend, frequency, monetary_value) * (per_month @ discount)


class GammaGammaModel:
    """Gamma-Gamma fitted by maximum likelihood (scikit-learn estimator contract).

    Fit on repeat customers only (frequency >= 1, monetary_value > 0).
    ``group``, ``tol`` and ``max_iter`` mean what they mean for ``BGNBDModel``.

    Attributes (after ``fit``): ``params_``, ``log_likelihood_``,
    ``n_customers_``, ``n_groups_``, ``n_iter_``, ``converged_``.
    """

    def __init__(self, *, group: bool = True, tol: float = 1e-10, max_iter: int = 1000) -> None:
        self.group = group
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None) -> Self:
        x, m = check_spend(frequency, monetary_value)
        w = np.ones_like(x) if weights is None else as_float_array(weights, "weights")
        if len(x) == 0:
            raise ValueError("cannot fit Gamma-Gamma on no repeat customers")
        if self.group:
            (x, m), w = group_rows((x, m), w)
        # Fit in money units where the mean spend is 1, so that the start
        # v = 1 is the right order of magnitude whatever the currency; v is
        # a money scale, so it scales back exactly.
        scale = float(w.sum() / (w @ m))
        found = maximise(
            lambda params: log_likelihood_and_gradient(params, x, m * scale, w),
            np.ones(3),
            float(w.sum()),
            tol=self.tol,
            max_iter=self.max_iter,
        )
        self.params_ = GammaGammaParams.from_array(found.params / np.array([1.0, 1.0, scale]))
        self.log_likelihood_ = log_likelihood_and_gradient(self.params_.as_array(), x, m, w)[0]
        self.n_customers_ = int(round(w.sum()))
        self.n_groups_ = len(x)
        self.n_iter_ = found.n_iter
        self.converged_ = found.converged
        return self

    def _fitted(self) -> GammaGammaParams:
        if not hasattr(self, "params_"):
            raise NotFittedError("this GammaGammaModel is not fitted yet; call fit() first")
        return self.params_

    def conditional_expected_spend(self, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
        return conditional_expected_spend(self._fitted(), frequency, monetary_value)

    def customer_lifetime_value(
        self,
        purchases: PurchasePredictor,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        *,
        time_unit: TimeUnit,
        months: int = 12,
        discount_rate: float = 0.01,
    ) -> FloatArray:
        return customer_lifetime_value(
            purchases, self._fitted(), frequency, recency, T, monetary_value,
            time_unit=time_unit, months=months, discount_rate=discount_rate,
        )
