"""Maximum likelihood plumbing shared by the CLV models.

Two things every model here needs and nothing else does: collapsing
customers with identical summaries into weighted groups, and maximising a
log-likelihood over strictly positive parameters.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from typing import Any

from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

FloatArray = NDArray[np.float64]
ValueAndGradient = Callable[[FloatArray], tuple[float, FloatArray]]

# Parameters are optimised as logs, so these bounds are exp(-30)..exp(30):
# wide enough for any real data set, narrow enough that a likelihood that
# runs away to infinity stops with finite numbers and a warning.
_LOG_BOUND = 30.0


def as_float_array(values: ArrayLike, name: str) -> FloatArray:
    """A 1-d float64 copy-free view of ``values``; refuses NaN and infinities."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def weighted_sum(weights: FloatArray, values: FloatArray) -> float:
    """sum(weights * values), without BLAS.

    ``weights @ values`` hands long vectors to multi-threaded OpenBLAS, whose
    threads made fits several times slower on a machine busy with other
    work; einsum's single-threaded loop costs a fraction of a millisecond
    per million values and never waits for anyone.
    """
    return float(np.einsum("i,i->", weights, values))


def group_rows(columns: tuple[FloatArray, ...], weights: FloatArray) -> tuple[tuple[FloatArray, ...], FloatArray]:
    """Collapse identical rows of ``columns`` into one row each, summing ``weights``.

    The log-likelihoods here are sums of one term per customer that depends
    only on the customer's summary, so a group of identical summaries
    contributes ``count * term``: the cost of a fit then grows with the
    number of distinct summaries, not customers.
    """
    # pandas hashes the keys; np.unique(axis=0) would sort them, which is
    # several times slower on millions of rows.
    frame = pd.DataFrame({f"c{i}": column for i, column in enumerate(columns)})
    frame["w"] = weights
    grouped = frame.groupby(list(frame.columns[:-1]), sort=False)["w"].sum()
    keys = grouped.index.to_frame(index=False)
    unique = tuple(keys[f"c{i}"].to_numpy(dtype=np.float64) for i in range(len(columns)))
    return unique, grouped.to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class Maximum:
    """Where a log-likelihood was maximised."""

    params: FloatArray
    log_likelihood: float
    converged: bool
    n_iter: int
    message: str


def maximise(
    value_and_gradient: ValueAndGradient,
    initial: FloatArray,
    total_weight: float,
    *,
    tol: float,
    max_iter: int,
) -> Maximum:
    """Maximise a log-likelihood over positive parameters with L-BFGS-B.

    ``value_and_gradient(params)`` returns the log-likelihood and its
    gradient in the natural parameters; the search runs on their logs, so
    positivity needs no constraint, and on the likelihood per unit weight, so
    the tolerances mean the same for a hundred customers and for a million.
    """

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(log_params)
        value, gradient = value_and_gradient(params)
        # d/d(log p) = p * d/dp (chain rule).
        return -value / total_weight, -gradient * params / total_weight

    # L-BFGS-B's bookkeeping calls BLAS on matrices of a few parameters;
    # multi-threaded OpenBLAS turns each of those calls into a thread
    # hand-off that cost milliseconds apiece (more than the likelihood) on a
    # busy machine. One thread is all a four-parameter problem can use.
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(
            objective,
            np.log(initial),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * len(initial),
            options={"ftol": tol, "gtol": tol, "maxiter": max_iter, "maxcor": 20},
        )
    if not result.success:
        warnings.warn(
            f"maximum likelihood did not converge: {result.message}",
            ConvergenceWarning,
            stacklevel=3,
        )
    return Maximum(
        params=np.exp(result.x),
        log_likelihood=float(-result.fun * total_weight),
        converged=bool(result.success),
        n_iter=int(result.nit),
        message=str(result.message),
    )


def record_fit(model: Any, params: Any, found: Maximum, weights: FloatArray) -> None:
    """Set a fitted model's learned state (sklearn style: names end in ``_``)."""
    model.params_ = params
    model.log_likelihood_ = found.log_likelihood
    model.n_customers_ = round(float(weights.sum()))
    model.n_groups_ = len(weights)
    model.n_iter_ = found.n_iter
    model.converged_ = found.converged
