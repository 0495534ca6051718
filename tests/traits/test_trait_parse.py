"""Parsing ``traits:``: every kind's syntax, and errors that name the trait, the key and the fix."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from trait_strategies import any_trait

from segmint.segments.parse import load_segments
from segmint.traits.parse import load_traits


@settings(max_examples=60, deadline=None)
@given(body=any_trait)
def test_every_generated_trait_parses(body: dict) -> None:
    loaded = load_traits({"t": body})
    assert not loaded.errors and list(loaded.definitions) == ["t"]


def test_the_documented_examples_parse() -> None:
    loaded = load_traits({
        "orders_90d": {"count": "Order Completed", "within": "90d"},
        "spend_total": {"sum": "total", "of": "Order Completed"},
        "favourite_category": {"most_frequent": "category", "of": "Product Viewed", "within": "30d"},
        "days_since_last_order": {"days_since": "Order Completed"},
        "order_trend_30d": {"trend": "count", "of": "Order Completed", "period": "30d"},
        "daily_spend_30d": {"rolling_avg": "sum", "property": "total", "of": "Order Completed", "within": "30d"},
        "outdoor_views": {"count": "Product Viewed", "where": {"category": "outdoor", "price": {"gte": 20}}},
    })
    assert not loaded.errors
    assert loaded.definitions["daily_spend_30d"].buckets == 30
    assert loaded.definitions["order_trend_30d"].horizon == 2 * 30 * 86_400_000_000


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ({"sum": "total"}, "of", "of: EVENT"),
        ({"count": "E", "of": "F"}, "of", "unknown key"),
        ({"count": "E", "sum": "x"}, "(definition)", "exactly one"),
        ({"total": "x"}, "(definition)", "exactly one"),
        ({"count": "E", "within": "soon"}, "within", "not a duration"),
        ({"count": "E", "where": {"x": {"like": 1}}}, "where.x.like", "unknown operator"),
        ({"trend": "count", "of": "E"}, "period", "period"),
        ({"trend": "avg", "of": "E", "period": "1d"}, "trend", "count or a sum"),
        ({"trend": "sum", "of": "E", "period": "1d"}, "property", "property: NAME"),
        ({"rolling_avg": "count", "of": "E"}, "within", "within"),
        ({"rolling_avg": "count", "of": "E", "within": "1h", "per": "1d"}, "per", "longer"),
        ({"trend": "count", "of": "E", "period": "1d", "within": "2d"}, "within", "unknown key"),
        ("count E", "(definition)", "mapping"),
    ],
)
def test_errors_name_the_trait_and_key(body: object, key: str, words: str) -> None:
    loaded = load_traits({"bad": body, "good": {"count": "E"}})
    assert list(loaded.definitions) == ["good"]
    (error,) = loaded.errors
    assert (error.trait, error.key) == ("bad", key)
    assert words in error.message, error.message


def test_names_must_not_clash_with_segments_and_readers_of_broken_traits_are_unusable() -> None:
    loaded = load_segments(
        {"vip": {"all": []}, "uses_broken": {"trait": "broken", "gt": 1}, "uses_good": {"trait": "spend", "gt": 1}},
        {"vip": {"count": "E"}, "broken": {"sum": "x"}, "spend": {"sum": "x", "of": "E"}, "Bad-Name": {"count": "E"}},
    )
    assert loaded.traits is not None
    assert sorted((e.trait, e.key) for e in loaded.traits.errors) == [("Bad-Name", "(name)"), ("broken", "of"), ("vip", "(name)")]
    assert list(loaded.computed) == ["spend"]
    assert sorted(loaded.definitions) == ["uses_good", "vip"]
    assert [e.segment for e in loaded.errors] == ["uses_broken"]


def test_without_traits_a_trait_condition_reads_identify_traits() -> None:
    loaded = load_segments({"s": {"trait": "spend", "gt": 1}})
    assert loaded.computed == {} and loaded.traits is None and not loaded.errors
