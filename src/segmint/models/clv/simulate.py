"""Draw customer summaries from the BG/NBD and Gamma-Gamma generative processes.

For tests that a fit recovers known parameters, and for benchmarks on data
of any size. Vectorised: no loop over customers or purchases.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from segmint.models.clv._mle import FloatArray
from segmint.models.clv.bgnbd import BGNBDParams
from segmint.models.clv.gamma_gamma import GammaGammaParams


def simulate_bgnbd(params: BGNBDParams, T: ArrayLike, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """(frequency, recency) of customers observed for ``T`` since their first purchase.

    Each customer buys at rate lambda ~ Gamma(r, alpha) and drops out after
    each repeat purchase with probability p ~ Beta(a, b), so they make at
    most J ~ Geometric(p) repeat purchases. With N ~ Poisson(lambda T)
    purchases possible in (0, T], x = min(N, J); the N purchase times are
    uniform order statistics on (0, T], so the x-th of them is
    T * Beta(x, N - x + 1).
    """
    age = np.asarray(T, dtype=np.float64)
    rate = rng.gamma(params.r, 1.0 / params.alpha, size=age.shape)
    dropout = rng.beta(params.a, params.b, size=age.shape)
    possible = rng.poisson(rate * age)
    lifetime_purchases = rng.geometric(dropout)
    x = np.minimum(possible, lifetime_purchases)
    has_repeat = x > 0
    # Beta needs positive arguments; customers without repeats get t_x = 0.
    fraction = rng.beta(np.where(has_repeat, x, 1), np.where(has_repeat, possible - x + 1, 1))
    return x.astype(np.float64), np.where(has_repeat, age * fraction, 0.0)


def simulate_spend(params: GammaGammaParams, frequency: ArrayLike, rng: np.random.Generator) -> FloatArray:
    """Mean spend of each customer's ``frequency`` repeat purchases (0 where there are none).

    Spend per purchase is Gamma(p, nu) with nu ~ Gamma(q, v) across
    customers, so the mean of x purchases is Gamma(p x, x nu).
    """
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(params.q, 1.0 / params.v, size=x.shape)
    has_repeat = x > 0
    mean = rng.gamma(np.where(has_repeat, params.p * x, 1.0), 1.0 / (np.where(has_repeat, x, 1.0) * nu))
    return np.where(has_repeat, mean, 0.0)
