"""The fixed-drop-out limit of BG/NBD eq. 10 agrees with eq. 10 near that limit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from segmint.models.clv import BGNBDParams, conditional_expected_purchases
from segmint.models.lifetime import _fixed_dropout_purchases


@example(r=3.0, alpha=1.0, p=0.0625, x=0, t_x_share=0.0, age=2.0, t=18.0)  # a heavy buyer with no purchase yet
@settings(max_examples=60, deadline=None)
@given(
    r=st.floats(0.2, 5),
    alpha=st.floats(0.5, 50),
    p=st.floats(0.05, 0.6),
    x=st.integers(0, 20),
    t_x_share=st.floats(0, 1),
    age=st.floats(1, 100),
    t=st.floats(1, 52),
)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_limit_matches_eq_10_when_a_and_b_are_large(r, alpha, p, x, t_x_share, age, t):
    scale = 5_000.0  # a + b: far enough towards the limit, near enough for eq. 10 to evaluate
    params = BGNBDParams(r=r, alpha=alpha, a=p * scale, b=(1 - p) * scale)
    t_x = t_x_share * age if x else 0.0
    exact = conditional_expected_purchases(params, t, x, t_x, age)
    limit = _fixed_dropout_purchases(params, t, x, t_x, age)
    assume(np.isfinite(exact))  # eq. 10 itself overflows for some heavy buyers at this scale
    # The limit drops terms of order (x + 1 + n) / (a + b): each of a customer's x past
    # purchases, and each of the n expected in the window (each a drop-out chance
    # too), moves the drop-out posterior by about 1 / (a + b). Counting only the
    # past ones failed for a heavy buyer with none yet (r 3, alpha 1, t 18: 3.1x).
    np.testing.assert_allclose(limit, exact, rtol=3 * (x + 1 + limit) / scale, atol=1e-6)
