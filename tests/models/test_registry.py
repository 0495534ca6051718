"""The model registry: versions, the active one, artifacts that round-trip."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from segmint.models.registry import (
    ACTIVE,
    RETIRED,
    STALE,
    ModelNotFoundError,
    find_model,
    list_models,
    load_model,
    save_model,
    set_status,
)
from segmint.store.store import Store


def test_a_fitted_model_round_trips_and_predicts_the_same(store):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + rng.normal(size=200) > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    window = (datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 6, 1, tzinfo=timezone.utc))
    saved = save_model(store, "churn", "logistic", model, features=["a", "b", "c"], metrics={"auc": 0.8}, window=window)
    record, loaded = load_model(store, "churn")
    assert record == saved
    assert record.window_start == window[0] and record.features == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from(["churn", "propensity", "clusters"]), min_size=1, max_size=8))
def test_versions_count_up_per_name_and_only_the_newest_is_active(tmp_path_factory, names):
    with Store(tmp_path_factory.mktemp("reg") / "s.duckdb") as store:
        for i, name in enumerate(names):
            save_model(store, name, "k", {"i": i}, features=[])
        for name in set(names):
            versions = list_models(store, name)
            assert [r.version for r in versions] == list(range(names.count(name), 0, -1))
            assert [r.status for r in versions] == [ACTIVE] + [RETIRED] * (len(versions) - 1)
            last = max(i for i, n in enumerate(names) if n == name)
            assert load_model(store, name)[1] == {"i": last}


def test_a_stale_model_is_still_found_and_an_unknown_one_is_named(store):
    save_model(store, "churn", "k", 1, features=[])
    set_status(store, "churn", 1, STALE)
    assert find_model(store, "churn").status == STALE
    with pytest.raises(ModelNotFoundError, match="churn"):
        find_model(store, "ltv")
    with pytest.raises(ModelNotFoundError, match="version 7"):
        find_model(store, "churn", 7)
