"""On the demo shop, whose personas are planted, clustering finds them again and names them."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmint.demo import DEFAULT_NOW, PERSONA_NAMES
from segmint.learn.cluster import cluster_profiles
from segmint.learn.features import DEFAULT_FEATURES, load_features


@pytest.fixture(scope="module")
def features(clustering_shop) -> pd.DataFrame:
    from segmint.store.store import Store

    with Store(clustering_shop.db_path, read_only=True) as store:
        return load_features(store, DEFAULT_NOW)


def test_every_planted_profile_has_the_default_features(features, clustering_shop) -> None:
    assert list(features.columns) == list(DEFAULT_FEATURES)
    assert set(features.index) == set(clustering_shop.truth.index)
    assert not features.isna().any().any()


@pytest.mark.parametrize("method", ["kmeans", "gmm", "hierarchical"])
def test_k_auto_finds_the_five_personas_and_agrees_with_them(features, clustering_shop, method) -> None:
    clustering = cluster_profiles(features, method, "auto", stability_runs=0)
    truth = clustering_shop.truth.reindex(clustering.assignments.index)
    assert clustering.k == len(PERSONA_NAMES) == 5
    assert clustering.selection is not None and clustering.selection.chosen == 5
    assert adjusted_rand_score(truth, clustering.assignments["cluster_id"]) >= 0.9


def test_each_cluster_is_named_after_the_persona_planted_in_most_of_it(features, clustering_shop) -> None:
    clustering = cluster_profiles(features, "kmeans", "auto", stability_runs=3)
    truth = clustering_shop.truth.reindex(clustering.assignments.index)
    majority = pd.crosstab(clustering.assignments["cluster_name"], truth).idxmax(axis=1)
    assert dict(majority) == {name: name for name in PERSONA_NAMES}
    assert clustering.stability is not None and clustering.stability.mean >= 0.9


def test_hdbscan_finds_the_personas_with_some_noise(features, clustering_shop) -> None:
    clustering = cluster_profiles(features, "hdbscan", "auto", stability_runs=0)
    labels = clustering.assignments["cluster_id"]
    clustered = labels >= 0
    truth = clustering_shop.truth.reindex(labels.index)
    assert clustered.mean() >= 0.9
    assert adjusted_rand_score(truth[clustered], labels[clustered]) >= 0.8
    assert clustering.assignments["probability"].between(0, 1).all()


def test_descriptions_quote_figures(features) -> None:
    clustering = cluster_profiles(features, "kmeans", 5, stability_runs=0)
    loyal = next(p for p in clustering.personas if p.name == "Loyal Buyers")
    assert "orders" in loyal.description and "× the average" in loyal.description
    orders = next(d for d in loyal.differences if d.feature == "orders")
    inside = clustering.assignments["cluster_id"] == loyal.id
    assert orders.cluster == pytest.approx(features.loc[inside, "orders"].mean())
    assert orders.population == pytest.approx(features["orders"].mean())
