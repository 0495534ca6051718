"""The notebook API returns, as pandas, exactly what the modules behind the CLI compute."""

from __future__ import annotations

import orjson

import segmint
from segmint.demo import DEFAULT_NOW
from segmint.learn.rfm import rfm_scores
from segmint.quality.dictionary import data_dictionary
from segmint.segments.batch import evaluate_duckdb
from segmint.segments.parse import load_segments
from segmint.store.store import Store
from segmint.traits.batch import compute_traits


def test_every_method_matches_the_module_it_wraps(clustering_shop):
    with segmint.open(clustering_shop.db_path, config=clustering_shop.config_path) as shop:
        config = shop.config
        profiles = shop.profiles()
        segments = shop.segments(as_of=DEFAULT_NOW.isoformat())
        traits = shop.traits(as_of=DEFAULT_NOW)
        rfm = shop.rfm(as_of=DEFAULT_NOW)
        quality = shop.quality(as_of=DEFAULT_NOW)
        clusters = shop.cluster(k=5, as_of=DEFAULT_NOW, stability_runs=0)
    with Store(clustering_shop.db_path, read_only=True) as store:
        rows = store.query("SELECT profile_id, traits FROM profiles").to_pylist()
        assert sorted(profiles.index) == sorted(r["profile_id"] for r in rows)
        for row in rows[:50]:
            for key, value in orjson.loads(row["traits"]).items():
                assert profiles.loc[row["profile_id"], key] == value
        expected = evaluate_duckdb(store.connection, load_segments(config.segments, config.traits), config.identity, DEFAULT_NOW)
        assert {name: sorted(segments.index[segments[name]]) for name in segments.columns} == expected
        direct = compute_traits(store.connection, config.traits, config.identity, DEFAULT_NOW).set_index("profile_id")
        assert traits.sort_index().equals(direct.sort_index())
        assert rfm.equals(rfm_scores(store, config, DEFAULT_NOW))
        assert quality.equals(data_dictionary(store, DEFAULT_NOW))
    assert clusters.k == 5 and len(clusters.assignments) == len(profiles)
