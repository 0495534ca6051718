"""The population stability index: zero when nothing moved, larger the further it moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.models.drift import Bins, Reference, drift, psi, shares

share_vectors = st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=2, max_size=12).filter(lambda v: sum(v) > 0)


def _normalised(values: list[float]) -> np.ndarray:
    array = np.asarray(values)
    return array / array.sum()


@settings(max_examples=50, deadline=None)
@given(share_vectors)
def test_psi_of_identical_distributions_is_zero(values):
    p = _normalised(values)
    assert psi(p, p) == 0.0


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_psi_is_positive_and_symmetric_on_the_same_bins(data):
    first = data.draw(share_vectors)
    second = data.draw(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=len(first), max_size=len(first)).filter(lambda v: sum(v) > 0))
    p, q = _normalised(first), _normalised(second)
    assert psi(p, q) >= 0
    assert np.isclose(psi(p, q), psi(q, p))


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=0, max_value=2**31), st.floats(min_value=0.05, max_value=0.5))
def test_psi_grows_with_the_shift(seed, step):
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=4000)
    bins = Bins.of(reference)
    current = rng.normal(size=4000)
    values = [bins.psi(current + k * step) for k in range(1, 6)]
    assert all(b > a for a, b in zip(values, values[1:])), values


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=0, max_value=2**31))
def test_swapping_reference_and_current_changes_the_index_only_a_little(seed):
    """With quantile bins taken from the reference, PSI is symmetric only approximately."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=5000), rng.normal(0.5, 1.2, size=5000)
    forward, backward = Bins.of(a).psi(b), Bins.of(b).psi(a)
    assert forward > 0.1 and backward > 0.1
    assert abs(forward - backward) / max(forward, backward) < 0.35


def test_a_sample_from_the_same_distribution_stays_below_the_rule_of_thumb():
    rng = np.random.default_rng(3)
    bins = Bins.of(rng.exponential(size=5000))
    assert bins.psi(rng.exponential(size=5000)) < 0.02


def test_missing_values_have_their_own_bin():
    edges = (1.0, 2.0)
    assert shares(np.array([0.5, 1.0, 1.5, 3.0, np.nan]), edges).tolist() == [0.4, 0.2, 0.2, 0.2]
    bins = Bins.of([1.0, 2.0, 3.0, np.nan])
    assert bins.psi([1.0, 2.0, 3.0, np.nan]) == 0.0
    assert bins.psi([np.nan] * 4) > 1.0


def test_a_report_names_the_drifted_features_and_marks_stale():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"steady": rng.normal(size=3000), "moving": rng.normal(size=3000)})
    reference = Reference.of(frame, rng.uniform(size=3000))
    later = frame.assign(moving=frame["moving"] + 2.0)
    report = drift(reference, later, rng.uniform(size=3000), threshold=0.2)
    assert report.drifted == ["moving"] and report.stale
    calm = drift(reference, frame, rng.uniform(size=3000), threshold=0.2)
    assert calm.drifted == [] and not calm.stale
    assert report.as_dict()["max_feature_psi"] == report.features["moving"]
