"""Properties every clustering keeps, on synthetic profiles drawn by Hypothesis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from segmint.learn.cluster import cluster_profiles
from segmint.learn.prepare import FeaturePreparer

KINDS = {"orders": "count", "spend": "money", "days_since_last_order": "days", "age": "number"}


def blobs(seed: int, k: int, size: int, outliers: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``k`` well-separated groups of customers (in log space), plus ``outliers`` extreme ones."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(k), size)
    centres = rng.permutation(np.array([[1, 10, 400], [6, 300, 60], [30, 3000, 5], [2, 2000, 200], [15, 50, 800]]))[:k]
    values = centres[truth] * np.exp(rng.normal(0, 0.12, (len(truth), 3)))
    frame = pd.DataFrame(values, columns=["orders", "spend", "days_since_last_order"])
    frame["age"] = rng.permutation([25.0, 35.0, 45.0, 55.0, 65.0])[truth] + rng.normal(0, 2, len(truth))
    if outliers:
        extreme = pd.DataFrame({"orders": [5000.0] * outliers, "spend": 1e7, "days_since_last_order": 0.0, "age": 120.0})
        frame = pd.concat([frame, extreme], ignore_index=True)
        truth = np.concatenate([truth, np.full(outliers, -1)])
    frame.index = pd.Index([f"p{i:05d}" for i in range(len(frame))], name="profile_id")
    return frame, truth


cases = st.tuples(st.integers(0, 2**31), st.integers(2, 5), st.integers(25, 60))
# Each example fits models: shrinking a failure could take minutes, and the
# failing example is readable as drawn.
quick = settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])


@quick
@given(cases, st.sampled_from(["isolation_forest", "lof"]), st.sampled_from(["kmeans", "gmm", "hierarchical"]))
def test_outliers_are_flagged_never_dropped(case, detector, method) -> None:
    seed, k, size = case
    frame, truth = blobs(seed, k, size, outliers=1)
    clustering = cluster_profiles(frame, method, k, kinds=KINDS, outliers=detector, stability_runs=0)
    out = clustering.assignments
    assert len(out) == len(frame) and list(out.index) == list(frame.index)
    assert out["cluster_id"].notna().all() and out["cluster_name"].notna().all()
    assert out.loc[truth == -1, "outlier"].all()
    # The detector flags the most unusual 1% of rows: the planted one, and not the groups.
    assert out["outlier"].sum() <= max(1, round(0.02 * len(out)))


@quick
@given(cases)
def test_gaussian_mixture_memberships_are_probabilities(case) -> None:
    seed, k, size = case
    frame, _ = blobs(seed, k, size)
    clustering = cluster_profiles(frame, "gmm", k, kinds=KINDS, stability_runs=0)
    matrix = clustering.model.preparer.transform(frame)
    membership = clustering.model.partition.membership(matrix)
    assert membership.shape == (len(frame), k)
    np.testing.assert_allclose(membership.sum(axis=1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(clustering.assignments["probability"], membership.max(axis=1))


@quick
@given(cases, st.sampled_from(["kmeans", "gmm", "hierarchical"]), st.randoms(use_true_random=False))
def test_order_and_names_of_profiles_do_not_change_the_clusters(case, method, random) -> None:
    seed, k, size = case
    frame, truth = blobs(seed, k, size)
    first = cluster_profiles(frame, method, k, kinds=KINDS, stability_runs=0).assignments
    order = list(range(len(frame)))
    random.shuffle(order)
    shuffled = frame.iloc[order]
    renamed = shuffled.set_axis([f"x-{name}" for name in shuffled.index])
    again = cluster_profiles(renamed, method, k, kinds=KINDS, stability_runs=0).assignments
    again.index = [name[2:] for name in again.index]
    assert adjusted_rand_score(truth, first["cluster_id"]) == 1.0
    # Canonical ids: the same groups get the same ids whatever order the rows came in.
    assert (again.loc[first.index, "cluster_id"] == first["cluster_id"]).all()
    sizes = first["cluster_id"].value_counts().sort_index()
    assert list(sizes) == sorted(sizes, reverse=True)


def test_the_model_assigns_the_training_profiles_as_the_fit_did() -> None:
    frame, _ = blobs(3, 4, 40)
    clustering = cluster_profiles(frame, "kmeans", "auto", kinds=KINDS, stability_runs=0)
    again = clustering.model.assign(frame)
    pd.testing.assert_frame_equal(again[["cluster_id", "cluster_name"]], clustering.assignments[["cluster_id", "cluster_name"]])
    assert clustering.k == 4


def test_hierarchical_micro_segments_nest_inside_their_cluster() -> None:
    frame, _ = blobs(5, 3, 50)
    clustering = cluster_profiles(frame, "hierarchical", 3, kinds=KINDS, stability_runs=0)
    out = clustering.assignments
    parents = out["micro_segment"].str.split(".").str[0].astype(int)
    assert (parents == out["cluster_id"]).all()
    assert sum(m["size"] for m in clustering.micro_segments) == len(frame)
    assert len(clustering.micro_segments) > clustering.k


@pytest.mark.parametrize("impute", ["knn", "mean", "median", "most_frequent"])
def test_missing_values_are_imputed_and_categories_encoded(impute) -> None:
    frame, _ = blobs(1, 3, 30)
    frame["city"] = np.where(np.arange(len(frame)) % 3 == 0, "Paris", "Berlin")
    frame.loc[frame.index[::7], "age"] = np.nan
    frame.loc[frame.index[::11], "city"] = None
    preparer = FeaturePreparer(KINDS, impute=impute).fit(frame)
    matrix = preparer.transform(frame)
    assert not np.isnan(matrix).any()
    names = list(preparer.get_feature_names_out())
    assert {"city_Paris", "city_Berlin", "city_(missing)"} <= set(names)
    unseen = frame.head(2).assign(city="Tokyo", age=np.nan)
    assert not np.isnan(preparer.transform(unseen)).any()
    # KNN fills a missing age from similar customers, not from the whole population.
    if impute == "knn":
        column = names.index("age")
        filled = matrix[frame["age"].isna().to_numpy(), column]
        assert np.ptp(filled) > 0
