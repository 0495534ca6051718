"""The BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

While alive, a customer buys as a Poisson process with rate lambda; after
each purchase they drop out for good with probability p. Across customers
lambda ~ Gamma(r, alpha) and p ~ Beta(a, b). A customer enters the data
through the summary (x, t_x, T): x repeat purchases, the last one t_x after
the first, observed for T since the first.

References: P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "Counting Your
Customers the Easy Way: An Alternative to the Pareto/NBD Model", Marketing
Science 24(2), 275-284 (equations 6, 9, 10); B. G. S. Hardie, "Computing
P(alive) Using the BG/NBD Model" (brucehardie.com, note 021).

Functions take the parameters explicitly and are pure; ``BGNBDModel`` wraps
them in the scikit-learn estimator contract.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1
from sklearn.exceptions import NotFittedError

from segmint.models.clv._mle import FloatArray, as_float_array, group_rows, maximise, record_fit, weighted_sum


@dataclass(frozen=True)
class BGNBDParams:
    """r, alpha: the Gamma mixing of purchase rates (alpha in time units);
    a, b: the Beta mixing of the drop-out probability."""

    r: float
    alpha: float
    a: float
    b: float

    def as_array(self) -> FloatArray:
        return np.array(astuple(self), dtype=np.float64)

    @classmethod
    def from_array(cls, values: ArrayLike) -> BGNBDParams:
        r, alpha, a, b = (float(v) for v in np.asarray(values, dtype=np.float64))
        return cls(r=r, alpha=alpha, a=a, b=b)


def check_summary(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate (x, t_x, T) as float arrays; raise ``ValueError`` naming the problem."""
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    age = as_float_array(T, "T")
    if not (len(x) == len(t_x) == len(age)):
        raise ValueError("frequency, recency and T must have the same length")
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise ValueError("frequency must hold non-negative whole numbers of repeat purchases")
    if np.any(t_x < 0) or np.any(t_x > age):
        raise ValueError("recency must lie between 0 and T")
    if np.any(t_x[x == 0] != 0):
        raise ValueError("recency must be 0 for customers without repeat purchases")
    return x, t_x, age


@dataclass(frozen=True)
class _Summaries:
    """The data side of the likelihood, computed once per fit rather than once per step."""

    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    weights: FloatArray
    repeat: NDArray[np.bool_]
    b_offset: FloatArray  # x - 1 where x >= 1, else 0: b + b_offset stays positive
    x_values: FloatArray  # the distinct frequencies...
    x_weights: FloatArray  # ...and the total weight of each

    @classmethod
    def of(cls, x: FloatArray, t_x: FloatArray, T: FloatArray, weights: FloatArray) -> _Summaries:
        values, index = np.unique(x, return_inverse=True)
        return cls(
            x,
            t_x,
            T,
            weights,
            x > 0,
            np.maximum(x, 1.0) - 1.0,
            values,
            np.bincount(index, weights=weights).astype(np.float64),
        )


def _log_likelihood_and_gradient(params: FloatArray, data: _Summaries) -> tuple[float, FloatArray]:
    """Weighted total log-likelihood (eq. 6) and its gradient in (r, alpha, a, b)."""
    r, alpha, a, b = params
    # The Gamma and Beta function terms depend on a customer through x
    # alone, and x takes few distinct values: evaluate them once per value.
    xv, xw = data.x_values, data.x_weights
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + xv)
    value = xw @ (gammaln(r + xv) + betaln(a, b + xv)) + xw.sum() * (r * np.log(alpha) - gammaln(r) - betaln(a, b))
    gradient = np.array(
        [
            xw @ digamma(r + xv) + xw.sum() * (np.log(alpha) - digamma(r)),
            xw.sum() * r / alpha,
            xw @ (psi_ab - psi_abx),
            xw @ (digamma(b + xv) + psi_ab - psi_abx) - xw.sum() * digamma(b),
        ]
    )
    # The rest is a sum of two branches per customer: still alive at T, or
    # dropped out right after the last purchase (only if x > 0). They are
    # added in log space so that neither underflows for heavy buyers.
    x, t_x, T, w = data.x, data.t_x, data.T, data.weights
    log_alpha_T, log_alpha_tx = np.log(alpha + T), np.log(alpha + t_x)
    b_x1 = b + data.b_offset
    alive = -(r + x) * log_alpha_T
    dropped = np.where(data.repeat, np.log(a) - np.log(b_x1) - (r + x) * log_alpha_tx, -np.inf)
    mixed = np.logaddexp(alive, dropped)
    share_alive, share_dropped = np.exp(alive - mixed), np.exp(dropped - mixed)
    value += weighted_sum(w, mixed)
    gradient -= [
        weighted_sum(w, share_alive * log_alpha_T + share_dropped * log_alpha_tx),
        weighted_sum(w, (r + x) * (share_alive / (alpha + T) + share_dropped / (alpha + t_x))),
        -weighted_sum(w, share_dropped) / a,
        weighted_sum(w, share_dropped / b_x1),
    ]
    return float(value), gradient


def log_likelihood(
    params: BGNBDParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> float:
    """Total log-likelihood of the summaries under ``params``; weights count customers."""
    return _log_likelihood_and_gradient(params.as_array(), _prepare(frequency, recency, T, weights))[0]


def log_likelihood_gradient(
    params: BGNBDParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None = None,
) -> FloatArray:
    """Gradient of ``log_likelihood`` with respect to (r, alpha, a, b)."""
    return _log_likelihood_and_gradient(params.as_array(), _prepare(frequency, recency, T, weights))[1]


def _validated(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    x, t_x, age = check_summary(frequency, recency, T)
    w = np.ones_like(x) if weights is None else as_float_array(weights, "weights")
    if len(w) != len(x) or np.any(w < 0):
        raise ValueError("weights must hold one non-negative count per customer")
    return x, t_x, age, w


def _prepare(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, weights: ArrayLike | None) -> _Summaries:
    return _Summaries.of(*_validated(frequency, recency, T, weights))


def probability_alive(params: BGNBDParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
    """P(alive at T | x, t_x, T) (Hardie, note 021); 1 for customers without repeats."""
    r, alpha, a, b = params.as_array()
    x, t_x, age = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    log_odds_dropped = (
        np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
    )
    return np.where(x > 0, expit(-log_odds_dropped), 1.0)


def conditional_expected_purchases(
    params: BGNBDParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """E[purchases in (T, T + t] | x, t_x, T] (eq. 10); broadcasts over all arguments.

    Eq. 10 multiplies 2F1(r+x, b+x; a+b+x-1; z) by ((alpha+T)/(alpha+T+t))^(r+x),
    a huge number times a tiny one for heavy buyers. Euler's transformation
    2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z), with 1 - z =
    (alpha+T)/(alpha+T+t), cancels the powers exactly and leaves
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose terms stay bounded.
    The expression is singular at a = 1 exactly (a 0/0 with a finite limit).
    """
    r, alpha, a, b = params.as_array()
    t, x, t_x, age = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (t, frequency, recency, T)))
    z = t / (alpha + age + t)
    c = a + b + x - 1.0
    bracket = 1.0 - (1.0 - z) ** (a - 1.0) * hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    return np.asarray(c / (a - 1.0) * bracket * probability_alive(params, x, t_x, age), dtype=np.float64)


def expected_purchases(params: BGNBDParams, t: ArrayLike) -> FloatArray:
    """E[X(t)]: expected repeat purchases within t of a new customer's first purchase (eq. 9).

    Eq. 9 is eq. 10 for a customer observed for no time at all (x = t_x = T = 0).
    """
    return conditional_expected_purchases(params, t, 0.0, 0.0, 0.0)


class BGNBDModel:
    """BG/NBD fitted by maximum likelihood (scikit-learn estimator contract).

    Parameters
    ----------
    group:
        Fit on distinct (x, t_x, T) summaries weighted by their counts; the
        result is the same, the cost is that of the distinct summaries.
    tol, max_iter:
        Passed to L-BFGS-B (as both ``ftol`` and ``gtol``, and ``maxiter``).

    Attributes (after ``fit``): ``params_``, ``log_likelihood_``,
    ``n_customers_``, ``n_groups_``, ``n_iter_``, ``converged_``.
    """

    def __init__(self, *, group: bool = True, tol: float = 1e-10, max_iter: int = 1000) -> None:
        self.group = group
        self.tol = tol
        self.max_iter = max_iter

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> Self:
        x, t_x, age, w = _validated(frequency, recency, T, weights)
        if len(x) == 0:
            raise ValueError("cannot fit BG/NBD on no customers")
        if self.group:
            (x, t_x, age), w = group_rows((x, t_x, age), w)
        data = _Summaries.of(x, t_x, age, w)
        # alpha is a time scale: starting it at the longest T makes the
        # start the right order of magnitude in any time unit (the same as
        # rescaling time so that T <= 1 and starting at 1).
        found = maximise(
            lambda p: _log_likelihood_and_gradient(p, data),
            np.array([1.0, float(age.max()), 1.0, 1.0]),
            float(w.sum()),
            tol=self.tol,
            max_iter=self.max_iter,
        )
        record_fit(self, BGNBDParams.from_array(found.params), found, data.weights)
        return self

    def _fitted(self) -> BGNBDParams:
        if not hasattr(self, "params_"):
            raise NotFittedError("this BGNBDModel is not fitted yet; call fit() first")
        return self.params_

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        return conditional_expected_purchases(self._fitted(), t, frequency, recency, T)

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        return probability_alive(self._fitted(), frequency, recency, T)

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        return expected_purchases(self._fitted(), t)
