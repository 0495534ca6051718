"""Gamma-Gamma: the published CDNOW estimates, the analytic gradient, grouping, lifetime value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from segmint.models.clv import (
    BGNBDModel,
    GammaGammaModel,
    GammaGammaParams,
    TimeUnit,
    customer_lifetime_value,
    summarise,
)
from segmint.models.clv.gamma_gamma import log_likelihood, log_likelihood_gradient
from segmint.models.clv.simulate import simulate_spend

CDNOW = Path(__file__).parents[1] / "fixtures" / "cdnow"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    raw = pd.read_csv(
        CDNOW / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"date": str},
    )
    return summarise(raw, "1997-09-30", time_unit=TimeUnit.W)


@pytest.fixture(scope="module")
def repeat(cdnow: pd.DataFrame) -> pd.DataFrame:
    return cdnow[cdnow["frequency"] > 0]


@pytest.fixture(scope="module")
def fitted(repeat: pd.DataFrame) -> GammaGammaModel:
    return GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])


# -- published numbers -----------------------------------------------------------------


def test_cdnow_estimates_match_fader_hardie_lee_2005(fitted: GammaGammaModel) -> None:
    # Published to two decimals, on the 946 customers with a repeat purchase.
    assert fitted.n_customers_ == 946
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert getattr(fitted.params_, name) == pytest.approx(value, abs=5e-3), name
    assert fitted.converged_


def test_expected_spend_matches_hardies_spreadsheet(fitted: GammaGammaModel, cdnow: pd.DataFrame) -> None:
    first_ten = cdnow.iloc[:10]
    published = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    ours = fitted.conditional_expected_spend(first_ten["frequency"], first_ten["monetary_value"])
    np.testing.assert_allclose(ours, published, atol=5e-3)


# -- gradient and grouping ---------------------------------------------------------------


@st.composite
def spends(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=1, max_value=30))
    rng = np.random.default_rng(draw(st.integers(min_value=0, max_value=2**32 - 1)))
    x = rng.integers(1, draw(st.integers(min_value=2, max_value=100)), n).astype(float)
    m = np.exp(rng.uniform(-3.0, 8.0, n))
    return x, m


log_params = st.lists(st.floats(min_value=-3.0, max_value=3.0), min_size=3, max_size=3)


@settings(max_examples=80, deadline=None)
@given(data=spends(), logs=log_params)
def test_gradient_matches_finite_differences(data: tuple[np.ndarray, np.ndarray], logs: list[float]) -> None:
    x, m = data
    params = np.exp(logs)
    weights = np.arange(1.0, len(x) + 1.0)
    analytic = log_likelihood_gradient(GammaGammaParams.from_array(params), x, m, weights)
    numeric = np.empty(3)
    for i in range(3):
        h = 1e-6 * params[i]
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (
            log_likelihood(GammaGammaParams.from_array(up), x, m, weights)
            - log_likelihood(GammaGammaParams.from_array(down), x, m, weights)
        ) / (2 * h)
    # In log-parameter space, as the optimiser sees it.
    scale = max(1.0, float(np.abs(params * analytic).max()))
    np.testing.assert_allclose(params * analytic, params * numeric, atol=2e-5 * scale, rtol=1e-5)


@settings(max_examples=50, deadline=None)
@given(data=spends(), logs=log_params, seed=st.integers(0, 2**32 - 1))
def test_counts_as_weights_equal_repeated_rows(
    data: tuple[np.ndarray, np.ndarray], logs: list[float], seed: int
) -> None:
    x, m = data
    params = GammaGammaParams.from_array(np.exp(logs))
    counts = np.random.default_rng(seed).integers(1, 5, len(x))
    repeated = log_likelihood(params, np.repeat(x, counts), np.repeat(m, counts))
    assert log_likelihood(params, x, m, counts) == pytest.approx(repeated, rel=1e-10)


def test_grouped_and_ungrouped_fits_agree(repeat: pd.DataFrame) -> None:
    grouped = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    ungrouped = GammaGammaModel(group=False).fit(repeat["frequency"], repeat["monetary_value"])
    assert grouped.n_groups_ < ungrouped.n_groups_ == 946
    np.testing.assert_allclose(grouped.params_.as_array(), ungrouped.params_.as_array(), rtol=1e-6)


def test_fit_recovers_the_parameters_it_was_simulated_from() -> None:
    rng = np.random.default_rng(2005)
    true = GammaGammaParams(p=4.0, q=5.0, v=60.0)
    x = rng.integers(1, 12, 50_000).astype(float)
    m = simulate_spend(true, x, rng)
    fitted = GammaGammaModel().fit(x, m).params_
    np.testing.assert_allclose(fitted.as_array(), true.as_array(), rtol=0.1)


def test_fit_does_not_depend_on_the_currency(repeat: pd.DataFrame) -> None:
    # v is a money scale; p and q are shapes. Cents instead of dollars: v x 100.
    dollars = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"]).params_
    cents = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"] * 100).params_
    np.testing.assert_allclose([cents.p, cents.q, cents.v / 100], [dollars.p, dollars.q, dollars.v], rtol=1e-6)


# -- lifetime value ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def purchases(cdnow: pd.DataFrame) -> BGNBDModel:
    return BGNBDModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def _lifetimes_loop(purchases, spend, x, t_x, T, m, months, rate, per_month):  # type: ignore[no-untyped-def]
    """lifetimes' _customer_lifetime_value, one month at a time, as a reference."""
    value = np.zeros(len(x))
    for i in np.arange(1, months + 1) * per_month:
        in_month = purchases.conditional_expected_purchases(i, x, t_x, T) - purchases.conditional_expected_purchases(
            i - per_month, x, t_x, T
        )
        value += spend * in_month / (1 + rate) ** (i / per_month)
    return value


@pytest.mark.parametrize("unit", list(TimeUnit))
def test_lifetime_value_is_lifetimes_monthly_sum(
    unit: TimeUnit, purchases: BGNBDModel, fitted: GammaGammaModel, cdnow: pd.DataFrame
) -> None:
    sample = cdnow.iloc[::50]
    x, t_x, T, m = (sample[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    ours = customer_lifetime_value(
        purchases, fitted.params_, x, t_x, T, m, time_unit=unit, months=18, discount_rate=0.02
    )
    spend = fitted.conditional_expected_spend(x, m)
    reference = _lifetimes_loop(purchases, spend, x, t_x, T, m, 18, 0.02, unit.per_month)
    np.testing.assert_allclose(ours, reference, rtol=1e-10)


def test_undiscounted_lifetime_value_is_spend_times_purchases(
    purchases: BGNBDModel, fitted: GammaGammaModel, cdnow: pd.DataFrame
) -> None:
    x, t_x, T, m = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    value = fitted.customer_lifetime_value(purchases, x, t_x, T, m, time_unit=TimeUnit.W, months=24, discount_rate=0.0)
    horizon = 24 * 30 / 7
    expected = fitted.conditional_expected_spend(x, m) * purchases.conditional_expected_purchases(horizon, x, t_x, T)
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    discounted = fitted.customer_lifetime_value(
        purchases, x, t_x, T, m, time_unit=TimeUnit.W, months=24, discount_rate=0.05
    )
    assert (discounted < value).all()


# -- estimator contract and validation --------------------------------------------------


def test_estimator_contract() -> None:
    model = GammaGammaModel(group=False, tol=1e-8, max_iter=50)
    assert (model.group, model.tol, model.max_iter) == (False, 1e-8, 50)
    with pytest.raises(NotFittedError):
        model.conditional_expected_spend(1, 10.0)
    x = np.arange(1.0, 201.0) % 7 + 1
    assert model.fit(x, simulate_spend(GammaGammaParams(2.0, 4.0, 30.0), x, np.random.default_rng(7))) is model


@pytest.mark.parametrize(
    ("frequency", "monetary", "message"),
    [([0, 1], [0.0, 1.0], "repeat customers only"), ([1], [-5.0], "must be positive"), ([1, 2], [1.0], "same length")],
)
def test_invalid_spend_is_refused(frequency: list, monetary: list, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        GammaGammaModel().fit(frequency, monetary)
