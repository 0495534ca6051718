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

from segmint.models.clv._mle import FloatArray, as_float_array, group_rows, maximise, record_fit, weighted_sum
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


@dataclass(frozen=True)
class _Spends:
    """The data side of the likelihood, computed once per fit rather than once per step."""

    x: FloatArray
    m: FloatArray
    weights: FloatArray
    xm: FloatArray  # total repeat spend x * m
    sum_log_m: float  # sum of w log m
    sum_x_log_m: float  # sum of w x log m
    x_values: FloatArray  # the distinct frequencies...
    x_weights: FloatArray  # ...and the total weight of each

    @classmethod
    def of(cls, x: FloatArray, m: FloatArray, weights: FloatArray) -> _Spends:
        values, index = np.unique(x, return_inverse=True)
        log_m = np.log(m)
        return cls(
            x,
            m,
            weights,
            x * m,
            weighted_sum(weights, log_m),
            weighted_sum(weights, x * log_m),
            values,
            np.bincount(index, weights=weights).astype(np.float64),
        )


def _log_likelihood_and_gradient(params: FloatArray, data: _Spends) -> tuple[float, FloatArray]:
    """Weighted total log-density of the mean spends (note 025, eq. 1) and its gradient in (p, q, v).

    Per customer: lnG(px+q) - lnG(px) - lnG(q) + q ln v + (px-1) ln m + px ln x
    - (px+q) ln(v + x m). The Gamma function terms depend on x alone and are
    evaluated once per distinct x; the ln m terms are data-only sums; only
    ln(v + x m) is left to compute per customer.
    """
    p, q, v = params
    xv, xw, total = data.x_values, data.x_weights, float(data.weights.sum())
    pxv = p * xv
    psi_pxq = digamma(pxv + q)
    log_v_xm = np.log(v + data.xm)
    w_log_v_xm = weighted_sum(data.weights, log_v_xm)
    wx_log_v_xm = weighted_sum(data.weights, data.x * log_v_xm)
    value = (
        xw @ (gammaln(pxv + q) - gammaln(pxv) + pxv * np.log(xv))
        + total * (q * np.log(v) - gammaln(q))
        + p * data.sum_x_log_m
        - data.sum_log_m
        - p * wx_log_v_xm
        - q * w_log_v_xm
    )
    gradient = np.array(
        [
            xw @ (xv * (psi_pxq - digamma(pxv) + np.log(xv))) + data.sum_x_log_m - wx_log_v_xm,
            xw @ psi_pxq + total * (np.log(v) - digamma(q)) - w_log_v_xm,
            total * q / v - weighted_sum(data.weights, (p * data.x + q) / (v + data.xm)),
        ]
    )
    return float(value), gradient


def _validated(
    frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x, m = check_spend(frequency, monetary_value)
    w = np.ones_like(x) if weights is None else as_float_array(weights, "weights")
    if len(w) != len(x) or np.any(w < 0):
        raise ValueError("weights must hold one non-negative count per customer")
    return x, m, w


def _prepare(frequency: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None) -> _Spends:
    return _Spends.of(*_validated(frequency, monetary_value, weights))


def log_likelihood(
    params: GammaGammaParams,
    frequency: ArrayLike,
    monetary_value: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    """Total log-likelihood of repeat customers' mean spends; weights count customers."""
    return _log_likelihood_and_gradient(params.as_array(), _prepare(frequency, monetary_value, weights))[0]


def log_likelihood_gradient(
    params: GammaGammaParams,
    frequency: ArrayLike,
    monetary_value: ArrayLike,
    weights: ArrayLike | None = None,
) -> FloatArray:
    """Gradient of ``log_likelihood`` with respect to (p, q, v)."""
    return _log_likelihood_and_gradient(params.as_array(), _prepare(frequency, monetary_value, weights))[1]


def conditional_expected_spend(params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
    """E[spend per purchase | x, m] (note 025, eq. 5): m shrunk towards p v / (q - 1).

    Written as p (v + x m) / (p x + q - 1), the weighted mean of the note
    with the weights multiplied out; for x = 0 it is the population mean.
    Finite only for q > 1 (for q <= 1 the population mean spend is infinite).
    """
    p, q, v = params.as_array()
    x, m = np.broadcast_arrays(np.asarray(frequency, dtype=np.float64), np.asarray(monetary_value, dtype=np.float64))
    return np.asarray(p * (v + x * m) / (p * x + q - 1.0), dtype=np.float64)


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
        x, m, w = _validated(frequency, monetary_value, weights)
        if len(x) == 0:
            raise ValueError("cannot fit Gamma-Gamma on no repeat customers")
        if self.group:
            (x, m), w = group_rows((x, m), w)
        data = _Spends.of(x, m, w)
        # v is a money scale: starting it at the mean spend makes the start
        # the right order of magnitude in any currency (the same as
        # rescaling money so that the mean spend is 1 and starting at 1).
        found = maximise(
            lambda params: _log_likelihood_and_gradient(params, data),
            np.array([1.0, 1.0, float(w @ m / w.sum())]),
            float(w.sum()),
            tol=self.tol,
            max_iter=self.max_iter,
        )
        record_fit(self, GammaGammaParams.from_array(found.params), found, data.weights)
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
            purchases,
            self._fitted(),
            frequency,
            recency,
            T,
            monetary_value,
            time_unit=time_unit,
            months=months,
            discount_rate=discount_rate,
        )
