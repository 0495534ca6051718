"""The parser: from the ``segments:`` mapping to typed definitions, or to errors that help.

Every error names the segment and the key and says what would be valid; a
bad segment never stops the others; references are checked after parsing
(unknown segments, cycles, dependents of broken segments) and the usable
definitions come out in dependency order.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from strategies import segment_definitions

from segmint.segments.definition import (
    AggregateMeasure,
    All,
    AnyOf,
    Comparison,
    CountMeasure,
    Duration,
    EventMatch,
    InSegment,
    Not,
    Performed,
    PropertyFilter,
    Sequence,
    TraitCondition,
    referenced_segments,
)
from segmint.segments.parse import SegmentError, load_segments

GOOD = {"performed": "Order Completed"}


def only_error(body: Any, name: str = "s") -> SegmentError:
    """The single error of a segment defined next to a good one, which must still load."""
    loaded = load_segments({name: body, "good": GOOD})
    assert "good" in loaded.definitions, "a bad segment must not stop the others"
    assert name not in loaded.definitions
    errors = loaded.errors_of(name)
    assert len(errors) == 1, errors
    assert not loaded.errors_of("good")
    return errors[0]


# ---- a correct definition -----------------------------------------------------


def test_the_spec_examples_parse_into_the_typed_tree() -> None:
    loaded = load_segments(
        {
            "recent_browsers": {
                "description": "Viewed a product in the last 48 hours and did not buy",
                "all": [
                    {"performed": "Product Viewed", "within": "48h"},
                    {"not": {"performed": "Order Completed", "within": "48h"}},
                ],
            },
            "cart_abandoners": {
                "performed": "Product Added",
                "within": "7d",
                "not_followed_by": {"performed": "Order Completed", "within": "30m", "same": ["cart_id"]},
            },
            "hot_outdoor_women": {
                "tags": ["marketing"],
                "all": [
                    {"trait": "gender", "eq": "female"},
                    {"trait": "age", "between": [25, 34]},
                    {"performed": "Product Viewed", "where": {"category": "outdoor"}, "count": {"gte": 2}, "within": "1h"},
                ],
            },
            "big_spenders": {"performed": "Order Completed", "sum": {"property": "total", "gte": 500}},
            "vip_at_risk": {"any": [{"in_segment": "big_spenders"}, {"not": {"performed": "Order Completed", "within": "90d"}}]},
        }
    )
    assert loaded.errors == []
    d = loaded.definitions
    assert d["recent_browsers"].description.startswith("Viewed")  # type: ignore[union-attr]
    assert d["recent_browsers"].condition == All(
        (
            Performed(EventMatch("Product Viewed", (), Duration("48h", 48 * 3600))),
            Not(Performed(EventMatch("Order Completed", (), Duration("48h", 48 * 3600)))),
        )
    )
    assert d["cart_abandoners"].condition == Performed(
        EventMatch("Product Added", (), Duration("7d", 7 * 86400)),
        CountMeasure(),
        Sequence(True, EventMatch("Order Completed", (), Duration("30m", 1800)), (("cart_id",),)),
    )
    hot = d["hot_outdoor_women"]
    assert hot.tags == ("marketing",)
    assert hot.condition == All(
        (
            TraitCondition("gender", (Comparison("eq", "female"),)),
            TraitCondition("age", (Comparison("between", (25, 34)),)),
            Performed(
                EventMatch("Product Viewed", (PropertyFilter(("category",), (Comparison("eq", "outdoor"),)),), Duration("1h", 3600)),
                CountMeasure((Comparison("gte", 2),)),
            ),
        )
    )
    assert d["big_spenders"].condition == Performed(
        EventMatch("Order Completed"), AggregateMeasure("sum", ("total",), (Comparison("gte", 500),))
    )
    assert d["vip_at_risk"].condition == AnyOf(
        (InSegment("big_spenders"), Not(Performed(EventMatch("Order Completed", (), Duration("90d", 90 * 86400))))),
    )


def test_count_defaults_to_at_least_one() -> None:
    condition = load_segments({"s": GOOD}).definitions["s"].condition
    assert isinstance(condition, Performed)
    assert condition.measure == CountMeasure((Comparison("gte", 1),))


def test_where_paths_operators_and_same() -> None:
    condition = load_segments(
        {
            "s": {
                "performed": "Added",
                "where": {"cart.total": {"gte": 10, "lt": 20}, "tags": {"contains": "sale"}, "coupon": None},
                "followed_by": {"performed": "Bought", "where": {"n": 1}, "same": "cart.id"},
            }
        }
    ).definitions["s"].condition
    assert condition == Performed(
        EventMatch(
            "Added",
            (
                PropertyFilter(("cart", "total"), (Comparison("gte", 10), Comparison("lt", 20))),
                PropertyFilter(("tags",), (Comparison("contains", "sale"),)),
                PropertyFilter(("coupon",), (Comparison("eq", None),)),
            ),
        ),
        CountMeasure(),
        Sequence(False, EventMatch("Bought", (PropertyFilter(("n",), (Comparison("eq", 1),)),)), (("cart", "id"),)),
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("30m", 1800), ("48h", 172800), ("7d", 604800), ("2w", 1209600), ("300s", 300), (" 1h ", 3600)],
)
def test_durations(text: str, seconds: int) -> None:
    condition = load_segments({"s": {"performed": "X", "within": text}}).definitions["s"].condition
    assert isinstance(condition, Performed) and condition.match.within is not None
    assert condition.match.within.seconds == seconds


@pytest.mark.parametrize("text", ["3x", "30M", "1.5h", "-5m", "30", "30 m", "m", "", 30, None, "7 d"])
def test_bad_durations_say_how_to_write_one(text: Any) -> None:
    error = only_error({"performed": "X", "within": text})
    assert error.key == "within"
    assert "30m" in error.message and "s, m, h, d or w" in error.message


@pytest.mark.parametrize("text", ["52179w", "365251d", "100000000w"])
def test_a_duration_beyond_1000_years_is_an_error(text: str) -> None:
    # Instant plus window must stay within the real-time evaluator's 64-bit microseconds.
    error = only_error({"performed": "X", "within": text})
    assert error.key == "within"
    assert "at most 1000 years (52178w)" in error.message


def test_a_duration_of_1000_years_is_accepted() -> None:
    condition = load_segments({"s": {"performed": "X", "within": "52178w"}}).definitions["s"].condition
    assert isinstance(condition, Performed) and condition.match.within is not None


def test_a_zero_duration_is_an_error() -> None:
    error = only_error({"performed": "X", "not_followed_by": {"performed": "Y", "within": "0m"}})
    assert error.key == "not_followed_by.within"
    assert "longer than zero" in error.message


# ---- errors: segment, key, what would be valid --------------------------------


@pytest.mark.parametrize(
    ("body", "key", "hint"),
    [
        ({"performed": "X", "count": {"gte": 2}, "followed_by": {"performed": "Y"}}, "followed_by", "cannot be combined"),
        ({"performed": "X", "sum": {"property": "t", "gte": 1}, "not_followed_by": {"performed": "Y", "within": "1h"}},
         "not_followed_by", "cannot be combined"),
        ({"performed": "X", "max": {"property": "t", "gte": 1}, "followed_by": {"performed": "Y"}}, "followed_by", "cannot be combined"),
        ({"performed": "X", "not_followed_by": {"performed": "Y"}}, "not_followed_by.within", "needs within"),
        ({"performed": "X", "not_followed_by": {"performed": "Y", "within": "1h"}, "followed_by": {"performed": "Y"}},
         "not_followed_by", "not both"),
        ({"performed": "X", "colour": "red"}, "colour", "valid: performed, where, within, count"),
        ({"performed": "X", "followed_by": {"performed": "Y", "gap": "1h"}}, "followed_by.gap", "valid: performed, where, within, same"),
        ({"trait": "age", "bigger": 3}, "bigger", "valid: eq, ne, gt, gte, lt, lte, in, not_in, between, contains, exists"),
        ({"all": [{"performed": "X", "where": {"p": {"gtt": 3}}}]}, "all[0].where.p.gtt", "valid: eq, ne"),
        ({"not": {"performed": "X", "within": "7 d"}}, "not.within", "e.g. 30m"),
        ({"any": [{"all": [{"trait": "a"}]}]}, "any[0].all[0].trait", "one of eq"),
        ({"trait": "a", "between": [1]}, "between", "[low, high]"),
        ({"trait": "a", "in": 3}, "in", "list of values"),
        ({"trait": "a", "exists": "yes"}, "exists", "true or false"),
        ({"trait": "a", "gt": True}, "gt", "number or a text"),
        ({"performed": "X", "count": {"contains": 1}}, "count.contains", "eq, ne, gt"),
        ({"performed": "X", "count": 3}, "count", "count: {gte: 2}"),
        ({"performed": "X", "sum": {"gte": 3}}, "sum", "property: total"),
        ({"performed": "X", "avg": {"property": "total"}}, "avg", "one of eq"),
        ({"performed": "X", "sum": {"property": "t", "gte": 1}, "count": {"gte": 1}}, "count", "not several"),
        ({"performed": "X", "where": "cat"}, "where", "where: {category: outdoor}"),
        ({"performed": "X", "where": {"p": {}}}, "where.p", "at least one operator"),
        ({"performed": "X", "where": {"p": [1, 2]}}, "where.p", "single value"),
        ({"performed": "X", "followed_by": "Y"}, "followed_by", "{performed: EVENT"),
        ({"performed": "X", "followed_by": {"performed": "Y", "same": [3]}}, "followed_by.same", "list of property names"),
        ({"performed": 3}, "performed", "event name"),
        ({"performed": "X", "followed_by": {"within": "1h"}}, "followed_by.performed", "event name"),
        ({"trait": "a", "eq": 1, "performed": "X"}, "(definition)", "exactly one of all, any, not, trait, performed, in_segment"),
        ({}, "(definition)", "exactly one of all, any, not, trait, performed, in_segment"),
        ({"colour": "red"}, "(definition)", "unknown key: colour"),
        ({"all": ["performed"]}, "all[0]", "one of: all, any, not"),
        ({"all": {"performed": "X"}}, "all", "list of conditions"),
        ({"in_segment": 3}, "in_segment", "name a segment"),
        ({"tags": 3, "all": []}, "tags", "list of text"),
        ({"description": 3, "all": []}, "description", "text"),
        (None, "(definition)", "{performed: Order Completed}"),
    ],
)  # fmt: skip
def test_each_error_names_the_segment_the_key_and_what_is_valid(body: Any, key: str, hint: str) -> None:
    error = only_error(body)
    assert (error.segment, error.key) == ("s", key)
    assert hint in error.message
    assert str(error).startswith(f"segment 's': {key}: ")


def test_an_unknown_key_next_to_a_condition_says_what_would_be_valid() -> None:
    error = only_error({"any": [], "colour": "red"})
    assert error.key == "colour"
    # Next to a condition only `description` and `tags` may stand.
    assert "description" in error.message and "tags" in error.message, error.message


def test_a_bad_name_is_reported_and_the_others_load() -> None:
    loaded = load_segments({"Big Spenders": GOOD, "9lives": GOOD, "ok": GOOD})
    assert list(loaded.definitions) == ["ok"]
    assert [(e.segment, e.key) for e in loaded.errors] == [("Big Spenders", "(name)"), ("9lives", "(name)")]
    assert "[a-z][a-z0-9_]*" in loaded.errors[0].message


def test_many_bad_segments_each_report_and_the_good_ones_load() -> None:
    loaded = load_segments(
        {"a": {"performed": "X", "within": "x"}, "b": GOOD, "c": {"trait": "t"}, "d": {"all": []}, "e": {"any": [3]}}
    )
    assert list(loaded.definitions) == ["b", "d"]
    assert sorted(e.segment for e in loaded.errors) == ["a", "c", "e"]


def test_no_segments() -> None:
    assert load_segments(None).definitions == {} and load_segments({}).errors == []


# ---- references -----------------------------------------------------------------


def test_an_unknown_in_segment_names_the_missing_segment_and_the_defined_ones() -> None:
    loaded = load_segments({"a": {"all": [{"in_segment": "nope"}]}, "b": GOOD})
    assert list(loaded.definitions) == ["b"]
    [error] = loaded.errors
    assert (error.segment, error.key) == ("a", "in_segment")
    assert "'nope'" in error.message and "a, b" in error.message


@pytest.mark.parametrize(
    ("segments", "cycle"),
    [
        ({"a": {"in_segment": "a"}}, ["a"]),
        ({"a": {"in_segment": "b"}, "b": {"not": {"in_segment": "a"}}}, ["a", "b"]),
        ({"a": {"in_segment": "b"}, "b": {"in_segment": "c"}, "c": {"any": [{"in_segment": "a"}]}}, ["a", "b", "c"]),
    ],
)
def test_a_cycle_is_reported_on_each_of_its_segments_naming_them_all(segments: dict[str, Any], cycle: list[str]) -> None:
    loaded = load_segments({**segments, "free": GOOD})
    assert list(loaded.definitions) == ["free"]
    for name in cycle:
        [error] = loaded.errors_of(name)
        assert error.key == "in_segment" and "cycle" in error.message
        for member in cycle:
            assert member in error.message


def test_every_segment_on_a_cycle_is_told_it_is_on_one() -> None:
    """Two cycles sharing ``b``: ``c`` is on the cycle b -> c -> b, not merely downstream of it."""
    loaded = load_segments(
        {"a": {"in_segment": "b"}, "b": {"all": [{"in_segment": "a"}, {"in_segment": "c"}]}, "c": {"in_segment": "b"}}
    )
    assert loaded.definitions == {}
    for name in ("a", "b", "c"):
        assert any("cycle" in e.message for e in loaded.errors_of(name)), loaded.errors_of(name)
    assert any("b -> c -> b" in e.message or "c -> b -> c" in e.message for e in loaded.errors), loaded.errors


def test_depending_on_a_broken_segment_makes_a_segment_unusable() -> None:
    loaded = load_segments(
        {
            "top": {"in_segment": "mid"},
            "mid": {"all": [{"in_segment": "bad"}]},
            "bad": {"performed": 3},
            "cyc": {"in_segment": "cyc"},
            "uses_cyc": {"not": {"in_segment": "cyc"}},
            "fine": {"in_segment": "leaf"},
            "leaf": GOOD,
        }
    )
    assert list(loaded.definitions) == ["leaf", "fine"]
    assert [e.key for e in loaded.errors_of("bad")] == ["performed"]
    assert "'bad'" in loaded.errors_of("mid")[0].message
    assert "'mid'" in loaded.errors_of("top")[0].message
    assert "'cyc'" in loaded.errors_of("uses_cyc")[0].message
    assert not any("no segment named" in str(e) for e in loaded.errors)  # 'bad' exists, it is broken


def test_definitions_come_in_dependency_order() -> None:
    loaded = load_segments(
        {
            "z": {"all": [{"in_segment": "y"}, {"in_segment": "w"}]},
            "y": {"in_segment": "x"},
            "x": GOOD,
            "v": GOOD,
            "w": {"not": {"in_segment": "x"}},
        }
    )
    order = list(loaded.definitions)
    assert sorted(order) == ["v", "w", "x", "y", "z"]
    for name, definition in loaded.definitions.items():
        for ref in referenced_segments(definition.condition):
            assert order.index(ref) < order.index(name)
    assert order.index("v") > order.index("x")  # otherwise the configuration's order is kept


@settings(max_examples=60, deadline=None)
@given(segment_definitions())
def test_generated_definitions_parse_cleanly_in_dependency_order(raw: dict[str, Any]) -> None:
    """The strategies only produce valid definitions, and reversing them keeps dependencies first."""
    loaded = load_segments(dict(reversed(list(raw.items()))))
    assert loaded.errors == []
    order = list(loaded.definitions)
    assert sorted(order) == sorted(raw)
    for name, definition in loaded.definitions.items():
        assert all(order.index(ref) < order.index(name) for ref in referenced_segments(definition.condition))
