"""The reference evaluator against hand-worked examples, one rule of the spec at a time.

If the reference is right, the differential tests (test_agreement.py) hold
every product evaluator to it; so each rule of shared/spec/segments.md (and
of the semantics settled for the evaluators) is pinned here by an example
small enough to check by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from reference import profiles_at, reference_memberships, satisfies
from strategies import ingest, stored_rows

from segmint.config.model import IdentifierConfig, IdentityConfig
from segmint.segments.definition import Comparison
from segmint.segments.parse import load_segments

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


class Log:
    """Normalised messages (rows of ``events``), numbered by arrival."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, type: str, minute: float, user: str | None = None, anon: str | None = None, **fields: Any) -> Log:
        self.rows.append(
            {
                "seq": len(self.rows) + 1,
                "type": type,
                "event": fields.get("event"),
                "user_id": user,
                "anonymous_id": anon,
                "previous_id": fields.get("previous"),
                "event_time": at(minute),
                "properties": fields.get("properties"),
                "traits": fields.get("traits"),
                "context": None,
            }
        )
        return self

    def track(self, event: str, minute: float, user: str | None = "u1", anon: str | None = None, **props: Any) -> Log:
        return self.add("track", minute, user, anon, event=event, properties=props)

    def identify(self, minute: float, user: str | None = None, anon: str | None = None, **traits: Any) -> Log:
        return self.add("identify", minute, user, anon, traits=traits)

    def alias(self, minute: float, user: str, previous: str) -> Log:
        return self.add("alias", minute, user, None, previous=previous)

    def page(self, minute: float, user: str | None = None, anon: str | None = None) -> Log:
        return self.add("page", minute, user, anon)


def members(log: Log, condition: dict[str, Any], minute: float, identity: IdentityConfig | None = None) -> list[str]:
    """Members of one segment with ``condition`` at ``minute``."""
    loaded = load_segments({"s": condition})
    assert not loaded.errors, loaded.errors
    return reference_memberships(log.rows, loaded, identity or IdentityConfig(), at(minute))["s"]


# ---- comparison rules -------------------------------------------------------

MISSING = None
CASES = [
    # missing: every comparison false but exists: false, ne and not_in included
    (MISSING, "eq", 1, False), (MISSING, "ne", 1, False), (MISSING, "in", (1,), False),
    (MISSING, "not_in", (1,), False), (MISSING, "gt", 0, False), (MISSING, "lte", 0, False),
    (MISSING, "between", (0, 9), False), (MISSING, "contains", "a", False),
    (MISSING, "exists", True, False), (MISSING, "exists", False, True),
    # present values exist, even falsy ones
    (0, "exists", True, True), ("", "exists", True, True), (False, "exists", True, True),
    ([], "exists", True, True), ({}, "exists", False, False),
    # numbers as numbers, compared as doubles
    (3, "eq", 3.0, True), (3.0, "in", (1, 3), True), (2.5, "gt", 2, True), (-1, "lt", 0, True),
    (2**53 + 1, "eq", 2**53, True), (2**53 + 1, "gt", 2**53, False), (2**53, "in", (2**53 + 1,), True),
    # a number and a string: never equal, ne true, every other comparison false
    (3, "eq", "3", False), ("3", "eq", 3, False), (3, "ne", "3", True), ("3", "gt", 2, False),
    ("3", "lt", 4, False), ("3", "in", (3,), False), ("3", "not_in", (3,), True),
    ("3", "between", (0, 9), False), (3, "between", ("0", "9"), False),
    # strings exactly, case-sensitive, ordered as text
    ("abc", "eq", "ABC", False), ("abc", "ne", "ABC", True), ("b", "gt", "a", True), ("B", "lt", "a", True),
    ("pro", "in", ("free", "pro"), True), ("Pro", "not_in", ("free", "pro"), True),
    # ISO-8601 strings compare as text, not as instants
    ("2026-01-02", "gt", "2026-01-01T23:00:00Z", True),
    ("2026-01-01T10:00:00+02:00", "lt", "2026-01-01T09:00:00Z", False),
    # between is inclusive at both ends
    (25, "between", (25, 34), True), (34, "between", (25, 34), True), (34.5, "between", (25, 34), False),
    (24.9, "between", (25, 34), False), ("b", "between", ("a", "c"), True), (5, "between", (9, 1), False),
    # contains: substring of a string, element of a list
    ("abc", "contains", "b", True), ("abc", "contains", "B", False), (["a", "b"], "contains", "b", True),
    (["ab"], "contains", "a", False), ([3], "contains", 3.0, True), (["3"], "contains", 3, False),
    ("a3", "contains", 3, False), (3, "contains", 3, False), ({"a": 1}, "contains", "a", False),
    ([True], "contains", 1, False),
    # booleans are their own kind: equal only to booleans, never ordered
    (True, "eq", True, True), (True, "eq", 1, False), (1, "eq", True, False), (0, "eq", False, False),
    (True, "gt", False, False), (True, "ne", 1, True), (False, "in", (0,), False),
    # lists and objects are never equal to a value, so ne holds
    ([1], "eq", 1, False), ([1], "ne", 1, True), ({"k": 1}, "ne", "x", True), ({"k": 1}, "in", ("x",), False),
    # a null operand matches nothing
    (3, "eq", None, False), (3, "ne", None, True), (3, "in", (None,), False),
]  # fmt: skip


@pytest.mark.parametrize(("value", "op", "operand", "expected"), CASES)
def test_comparison_rules(value: Any, op: str, operand: Any, expected: bool) -> None:
    assert satisfies(value, Comparison(op, operand)) is expected  # type: ignore[arg-type]


# ---- traits -----------------------------------------------------------------


def test_not_on_a_trait_includes_profiles_without_it() -> None:
    log = Log().identify(0, "u1", age=20).identify(0, "u2", age=30).identify(0, "u3", plan="pro").page(0, "u4")
    assert members(log, {"not": {"trait": "age", "gte": 30}}, 1) == ["u1", "u3", "u4"]
    assert members(log, {"trait": "age", "gte": 30}, 1) == ["u2"]


def test_ne_and_not_in_are_false_on_a_missing_trait() -> None:
    log = Log().identify(0, "u1", plan="free").identify(0, "u2", plan=None).page(0, "u3")
    assert members(log, {"trait": "plan", "ne": "pro"}, 1) == ["u1"]
    assert members(log, {"trait": "plan", "not_in": ["pro"]}, 1) == ["u1"]
    assert members(log, {"trait": "plan", "exists": False}, 1) == ["u2", "u3"]


def test_traits_are_the_latest_identify_values_key_by_key_and_null_unsets() -> None:
    log = (
        Log()
        .identify(10, "u1", plan="pro")
        .identify(0, "u1", plan="free", age=30)       # older, arrived later: plan stays pro
        .identify(5, None, "a1", age=40, city="Oslo")  # anonymous, joined to u1 at minute 15
        .identify(15, "u1", "a1")
        .identify(20, None, "a1", age=None)            # unset through the anonymous id
    )
    assert members(log, {"trait": "plan", "eq": "pro"}, 12) == ["u1"]
    assert members(log, {"trait": "age", "eq": 30}, 12) == ["u1"]
    assert members(log, {"trait": "age", "eq": 40}, 12) == ["a1"]  # not joined yet
    assert members(log, {"trait": "age", "eq": 40}, 15) == ["u1"]  # a1's identify (5) is later than u1's (0)
    assert members(log, {"trait": "city", "eq": "Oslo"}, 15) == ["u1"]
    assert members(log, {"trait": "age", "exists": False}, 20) == ["u1"]
    assert members(log, {"trait": "plan", "eq": "free"}, 9) == ["u1"]  # only the older identify exists at 9


def test_traits_come_only_from_identify_calls() -> None:
    log = Log().add("track", 0, "u1", event="E", properties={}, traits={"plan": "pro"}).add("group", 0, "u1", traits={"plan": "pro"})
    assert members(log, {"trait": "plan", "exists": True}, 1) == []


# ---- performed: where, within, count, aggregates ---------------------------


def test_within_counts_events_in_the_half_open_window() -> None:
    log = Log().track("Viewed", 0)
    cond = {"performed": "Viewed", "within": "10m"}
    assert members(log, cond, 0) == ["u1"]
    assert members(log, cond, 9.99) == ["u1"]
    assert members(log, cond, 10) == []  # exactly 10 minutes old: no longer counts
    assert members(log, {"performed": "Viewed"}, 1000) == ["u1"]  # without within, every earlier event


def test_events_after_now_do_not_exist() -> None:
    log = Log().page(0, "u1").track("Viewed", 5)
    assert members(log, {"performed": "Viewed"}, 4) == []
    assert members(log, {"not": {"performed": "Viewed"}}, 4) == ["u1"]
    assert members(log, {"performed": "Viewed"}, 5) == ["u1"]


def test_performed_matches_track_events_by_exact_name() -> None:
    log = Log().track("viewed", 0, "u1").track("Viewed ", 0, "u2").add("page", 0, "u3", event="Viewed").track("Viewed", 0, "u4")
    assert members(log, {"performed": "Viewed"}, 1) == ["u4"]


def test_where_filters() -> None:
    log = (
        Log()
        .track("Viewed", 0, "u1", category="outdoor", price=30, obj={"k": "x"}, tags=["a", "b"])
        .track("Viewed", 0, "u2", category="Outdoor", price="30", obj="k", tags="ab")
        .track("Viewed", 0, "u3")
    )
    assert members(log, {"performed": "Viewed", "where": {"category": "outdoor"}}, 1) == ["u1"]
    assert members(log, {"performed": "Viewed", "where": {"price": {"gte": 10, "lt": 30}}}, 1) == []
    assert members(log, {"performed": "Viewed", "where": {"price": {"gte": 10, "lte": 30}}}, 1) == ["u1"]
    assert members(log, {"performed": "Viewed", "where": {"price": {"ne": 30}}}, 1) == ["u2"]
    assert members(log, {"performed": "Viewed", "where": {"obj.k": "x"}}, 1) == ["u1"]
    assert members(log, {"performed": "Viewed", "where": {"obj.k": {"exists": False}}}, 1) == ["u2", "u3"]
    assert members(log, {"performed": "Viewed", "where": {"tags": {"contains": "a"}}}, 1) == ["u1", "u2"]
    assert members(log, {"performed": "Viewed", "where": {"tags": {"contains": "ab"}}}, 1) == ["u2"]
    assert members(log, {"performed": "Viewed", "where": {"category": "outdoor", "price": 31}}, 1) == []


def test_count_defaults_to_at_least_one_and_counts_matching_events() -> None:
    log = Log().track("Viewed", 0, "u1").track("Viewed", 5, "u1").track("Viewed", 5, "u2").page(0, "u3")
    assert members(log, {"performed": "Viewed", "count": {"gte": 2}}, 6) == ["u1"]
    assert members(log, {"performed": "Viewed", "count": {"gte": 2}, "within": "5m"}, 6) == []
    assert members(log, {"performed": "Viewed", "count": {"eq": 1}}, 6) == ["u2"]
    # a count of zero is a count too: profiles that never did it
    assert members(log, {"performed": "Viewed", "count": {"lt": 1}}, 6) == ["u3"]
    assert members(log, {"performed": "Viewed", "count": {"between": [1, 1]}}, 6) == ["u2"]
    assert members(log, {"performed": "Viewed", "count": {"in": [0, 2]}}, 6) == ["u1", "u3"]
    assert members(log, {"performed": "Viewed", "count": {"ne": "2"}}, 6) == ["u1", "u2", "u3"]  # number vs text


def test_aggregates_take_the_matching_events_whose_property_is_a_number() -> None:
    log = Log()
    for minute, total in enumerate([200, "300", 350, True, None, [5]]):
        log.track("Order Completed", minute, total=total)
    log.track("Order Completed", 9)  # no total at all
    log.track("Order Completed", 9, "u2", total="1000").track("Refund", 9, "u2", total=1000)
    check = {"performed": "Order Completed"}
    assert members(log, {**check, "sum": {"property": "total", "eq": 550}}, 10) == ["u1"]
    assert members(log, {**check, "avg": {"property": "total", "eq": 275}}, 10) == ["u1"]
    assert members(log, {**check, "min": {"property": "total", "eq": 200}}, 10) == ["u1"]
    assert members(log, {**check, "max": {"property": "total", "eq": 350.0}}, 10) == ["u1"]
    assert members(log, {**check, "sum": {"property": "total", "eq": 350}, "within": "9m"}, 10) == ["u1"]
    assert members(log, {**check, "sum": {"property": "total", "exists": False}, "within": "8m"}, 10) == ["u1", "u2"]


def test_an_aggregate_over_no_numbers_is_missing() -> None:
    log = Log().track("Order Completed", 0, "u1", total="5").page(0, "u2")
    for function in ("sum", "avg", "min", "max"):
        assert members(log, {"performed": "Order Completed", function: {"property": "total", "gte": 0}}, 1) == []
        assert members(log, {"performed": "Order Completed", function: {"property": "total", "lt": 1}}, 1) == []
        assert members(log, {"performed": "Order Completed", function: {"property": "total", "ne": 0}}, 1) == []
        assert members(log, {"performed": "Order Completed", function: {"property": "total", "exists": False}}, 1) == ["u1", "u2"]
        assert members(log, {"not": {"performed": "Order Completed", function: {"property": "total", "gte": 0}}}, 1) == ["u1", "u2"]


def test_sums_and_averages_are_exact_whatever_the_order() -> None:
    """Not settled by the spec: the reference sums exactly and rounds once (as the real-time evaluator does)."""
    log = Log().track("E", 0, n=0.1).track("E", 1, n=0.2).track("E", 2, n=0.3)
    assert members(log, {"performed": "E", "sum": {"property": "n", "eq": 0.6}}, 3) == ["u1"]  # naive: 0.6000000000000001
    assert members(log, {"performed": "E", "avg": {"property": "n", "eq": 0.2}}, 3) == ["u1"]
    big = Log().track("E", 0, n=2**53).track("E", 1, n=1)
    assert members(big, {"performed": "E", "sum": {"property": "n", "gt": 2**53}}, 3) == []  # 2**53 + 1 rounds to 2**53
    huge = Log().track("E", 0, n=1.7e308).track("E", 1, n=1.7e308)
    assert members(huge, {"performed": "E", "sum": {"property": "n", "gt": 1e308}}, 3) == ["u1"]  # overflows to infinity
    assert members(huge, {"performed": "E", "avg": {"property": "n", "eq": 1.7e308}}, 3) == ["u1"]  # but the mean does not


def test_aggregates_use_nested_paths() -> None:
    log = Log().track("Order Completed", 0, order={"total": 2.5}).track("Order Completed", 1, order={"total": 3})
    assert members(log, {"performed": "Order Completed", "sum": {"property": "order.total", "eq": 5.5}}, 2) == ["u1"]


# ---- followed_by ------------------------------------------------------------


def test_followed_by_within_the_gap() -> None:
    log = Log().track("Added", 0).track("Bought", 20)
    assert members(log, {"performed": "Added", "followed_by": {"performed": "Bought", "within": "30m"}}, 25) == ["u1"]
    assert members(log, {"performed": "Added", "followed_by": {"performed": "Bought", "within": "20m"}}, 25) == ["u1"]
    assert members(log, {"performed": "Added", "followed_by": {"performed": "Bought", "within": "10m"}}, 25) == []
    assert members(log, {"performed": "Added", "followed_by": {"performed": "Bought"}}, 25) == ["u1"]
    assert members(log, {"performed": "Added", "followed_by": {"performed": "Bought"}}, 19) == []  # B not yet
    assert members(log, {"performed": "Bought", "followed_by": {"performed": "Added"}}, 25) == []  # B before A


def test_followed_by_b_is_another_event_than_a_and_may_share_its_timestamp() -> None:
    once = Log().track("Viewed", 0)
    assert members(once, {"performed": "Viewed", "followed_by": {"performed": "Viewed"}}, 1) == []
    twice = Log().track("Viewed", 0).track("Viewed", 0)
    assert members(twice, {"performed": "Viewed", "followed_by": {"performed": "Viewed", "within": "5m"}}, 1) == ["u1"]
    tie = Log().track("Bought", 0).track("Added", 0)  # B arrived first, same timestamp
    assert members(tie, {"performed": "Added", "followed_by": {"performed": "Bought", "within": "5m"}}, 1) == ["u1"]


def test_followed_by_where_selects_b_and_outer_within_selects_a() -> None:
    log = Log().track("Added", 0).track("Bought", 10, total=5).track("Bought", 20, total=50)
    cond = {"performed": "Added", "followed_by": {"performed": "Bought", "where": {"total": {"gt": 10}}, "within": "15m"}}
    assert members(log, cond, 30) == []
    cond["followed_by"]["within"] = "20m"  # type: ignore[index]
    assert members(log, cond, 30) == ["u1"]
    windowed = {"performed": "Added", "within": "25m", "followed_by": {"performed": "Bought"}}
    assert members(log, windowed, 24) == ["u1"]
    assert members(log, windowed, 25) == []  # A has left the window; B need not be in it either way


def test_followed_by_needs_the_same_profile() -> None:
    log = Log().track("Added", 0, "u1").track("Bought", 5, "u2")
    assert members(log, {"performed": "Added", "followed_by": {"performed": "Bought"}}, 10) == []


# ---- not_followed_by --------------------------------------------------------


def test_not_followed_by_waits_for_the_deadline() -> None:
    log = Log().track("Added", 0)
    cond = {"performed": "Added", "not_followed_by": {"performed": "Bought", "within": "30m"}}
    assert members(log, cond, 10) == []  # ten minutes ago: not yet abandoned
    assert members(log, cond, 29.99) == []
    assert members(log, cond, 30) == ["u1"]  # A.ts + D <= now
    assert members(log, cond, 300) == ["u1"]


def test_not_followed_by_b_in_the_closed_gap_cancels() -> None:
    cond = {"performed": "Added", "not_followed_by": {"performed": "Bought", "within": "30m"}}
    assert members(Log().track("Added", 0).track("Bought", 30), cond, 40) == []  # B exactly at A + D
    assert members(Log().track("Added", 0).track("Bought", 0), cond, 40) == []  # same timestamp
    assert members(Log().track("Added", 0).track("Bought", 31), cond, 40) == ["u1"]  # too late
    assert members(Log().track("Bought", 0).track("Added", 1), cond, 40) == ["u1"]  # before A
    # one of several As is enough
    assert members(Log().track("Added", 0).track("Bought", 5).track("Added", 10), cond, 40) == ["u1"]
    assert members(Log().track("Added", 0).track("Bought", 5).track("Added", 10), cond, 39) == []


def test_not_followed_by_the_same_event_name() -> None:
    cond = {"performed": "Viewed", "not_followed_by": {"performed": "Viewed", "within": "10m"}}
    assert members(Log().track("Viewed", 0), cond, 10) == ["u1"]  # B is another event than A
    assert members(Log().track("Viewed", 0).track("Viewed", 0), cond, 10) == []
    assert members(Log().track("Viewed", 0).track("Viewed", 5), cond, 15) == ["u1"]  # the second is not followed
    assert members(Log().track("Viewed", 0).track("Viewed", 5), cond, 14) == []


def test_not_followed_by_with_an_outer_window() -> None:
    log = Log().track("Added", 0)
    cond = {"performed": "Added", "within": "1h", "not_followed_by": {"performed": "Bought", "within": "30m"}}
    assert members(log, cond, 30) == ["u1"]
    assert members(log, cond, 60) == []  # A left the window


# ---- same ----------------------------------------------------------------------


def test_same_compares_the_listed_properties() -> None:
    nfb = {"performed": "Added", "not_followed_by": {"performed": "Bought", "within": "30m", "same": ["cart"]}}
    fb = {"performed": "Added", "followed_by": {"performed": "Bought", "within": "30m", "same": ["cart"]}}
    other_cart = Log().track("Added", 0, cart="c1").track("Bought", 5, cart="c2")
    assert members(other_cart, nfb, 30) == ["u1"]
    assert members(other_cart, fb, 30) == []
    this_cart = Log().track("Added", 0, cart="c1").track("Bought", 5, cart="c1")
    assert members(this_cart, nfb, 30) == []
    assert members(this_cart, fb, 30) == ["u1"]
    numbers = Log().track("Added", 0, cart=1).track("Bought", 5, cart=1.0)
    assert members(numbers, fb, 30) == ["u1"]
    text_and_number = Log().track("Added", 0, cart=1).track("Bought", 5, cart="1")
    assert members(text_and_number, fb, 30) == []
    assert members(text_and_number, nfb, 30) == ["u1"]
    b_lacks = Log().track("Added", 0, cart="c1").track("Bought", 5)
    assert members(b_lacks, nfb, 30) == ["u1"]


def test_an_a_lacking_a_same_property_is_not_a_matching_a() -> None:
    nfb = {"performed": "Added", "not_followed_by": {"performed": "Bought", "within": "30m", "same": ["cart"]}}
    fb = {"performed": "Added", "followed_by": {"performed": "Bought", "within": "30m", "same": ["cart"]}}
    for lacking in (Log().track("Added", 0), Log().track("Added", 0, cart=None)):
        assert members(lacking, nfb, 30) == []
        assert members(lacking.track("Bought", 5), fb, 30) == []


def test_same_on_a_list_never_matches_a_b() -> None:
    """Lists are never equal (the comparison rules), so an A with a list is never followed."""
    log = Log().track("Added", 0, cart=["c1"]).track("Bought", 5, cart=["c1"])
    assert members(log, {"performed": "Added", "followed_by": {"performed": "Bought", "same": ["cart"]}}, 30) == []
    nfb = {"performed": "Added", "not_followed_by": {"performed": "Bought", "within": "30m", "same": ["cart"]}}
    assert members(log, nfb, 30) == ["u1"]


def test_same_with_nested_paths_and_several_properties() -> None:
    fb = {"performed": "Added", "followed_by": {"performed": "Bought", "same": ["cart.id", "shop"]}}
    assert members(Log().track("Added", 0, cart={"id": 7}, shop="x").track("Bought", 1, cart={"id": 7}, shop="x"), fb, 2) == ["u1"]
    assert members(Log().track("Added", 0, cart={"id": 7}, shop="x").track("Bought", 1, cart={"id": 7}, shop="y"), fb, 2) == []


# ---- logic, in_segment, which profiles ----------------------------------------


def test_all_any_not_and_empty_lists() -> None:
    log = Log().track("Viewed", 0, "u1").page(0, "u2")
    assert members(log, {"all": []}, 1) == ["u1", "u2"]
    assert members(log, {"any": []}, 1) == []
    assert members(log, {"not": {"any": []}}, 1) == ["u1", "u2"]
    assert members(log, {"any": [{"performed": "Viewed"}, {"trait": "x", "exists": True}]}, 1) == ["u1"]
    assert members(log, {"all": [{"performed": "Viewed"}, {"trait": "x", "exists": True}]}, 1) == []


def test_in_segment_is_membership_at_the_same_instant() -> None:
    log = Log().track("Order Completed", 0, "u1", total=600).track("Order Completed", 0, "u2", total=100).page(50, "u3")
    loaded = load_segments(
        {
            "vip_at_risk": {"all": [{"in_segment": "big_spenders"}, {"not": {"performed": "Order Completed", "within": "30m"}}]},
            "big_spenders": {"performed": "Order Completed", "sum": {"property": "total", "gte": 500}},
            "others": {"not": {"in_segment": "big_spenders"}},
        }
    )
    assert not loaded.errors
    assert list(loaded.definitions) == ["big_spenders", "vip_at_risk", "others"]
    assert reference_memberships(log.rows, loaded, IdentityConfig(), at(10)) == {
        "big_spenders": ["u1"], "vip_at_risk": [], "others": ["u2"],
    }  # fmt: skip
    assert reference_memberships(log.rows, loaded, IdentityConfig(), at(50)) == {
        "big_spenders": ["u1"], "vip_at_risk": ["u1"], "others": ["u2", "u3"],
    }  # fmt: skip


def test_only_profiles_with_a_message_by_now_are_evaluated() -> None:
    log = Log().page(10, "u1").identify(0, "u2")
    cond = {"not": {"performed": "Viewed"}}
    assert members(log, cond, 5) == ["u2"]
    assert members(log, cond, 10) == ["u1", "u2"]
    assert members(Log(), cond, 10) == []


# ---- identity -------------------------------------------------------------------


def test_anonymous_events_join_the_user_from_the_identify_on() -> None:
    log = Log().track("Viewed", 0, None, "a1").identify(10, "u1", "a1").track("Viewed", 20, None, "a2").alias(30, "u1", "a2")
    cond = {"performed": "Viewed", "count": {"gte": 1}}
    assert members(log, cond, 5) == ["a1"]
    assert members(log, cond, 10) == ["u1"]  # a1's earlier event counts for u1 once joined
    assert members(log, cond, 25) == ["a2", "u1"]
    assert members(log, {"performed": "Viewed", "count": {"eq": 2}}, 30) == ["u1"]  # alias joins a2 too


def test_two_user_ids_are_never_merged_and_time_order_decides() -> None:
    log = Log().identify(5, "u1", "a1").identify(0, "u2", "a1").track("Viewed", 6, None, "a1")
    # u2's identify is earlier by timestamp though it arrived later: a1 belongs to u2.
    assert members(log, {"performed": "Viewed"}, 10) == ["u2"]
    assert members(log, {"not": {"performed": "Viewed"}}, 10) == ["u1"]
    # At 4 only u2's identify exists (u1's is at 5).
    assert members(log, {"all": []}, 4) == ["u2"]


def test_a_shared_browser_stays_with_its_first_user() -> None:
    log = Log().identify(0, "u1", "a1").identify(10, "u2", "a1").track("Viewed", 20, None, "a1")
    assert members(log, {"performed": "Viewed"}, 20) == ["u1"]
    assert members(log, {"all": []}, 20) == ["u1", "u2"]


def test_an_anonymous_profile_takes_its_earliest_seen_anonymous_id() -> None:
    email = IdentityConfig(identifiers={"email": IdentifierConfig(paths=("traits.email",), normalize=("trim", "lowercase"))})
    log = Log().identify(5, None, "a1", email="X@x.com ").identify(0, None, "a2", email=" x@X.com")
    assert members(log, {"all": []}, 10, email) == ["a2"]
    assert members(log, {"all": []}, 10) == ["a1", "a2"]  # without the email identifier, two profiles
    assert members(log, {"all": []}, 4, email) == ["a2"]


@pytest.mark.parametrize(
    ("first", "second", "joined"),
    [
        (" X@x.com\u00a0", "x@X.com", True),   # trim removes Unicode spaces; lowercase
        ("\tx@x.com", "x@x.com", False),       # ... but not tabs
        ("İ@x.com", "i@x.com", True),           # lowercase one character at a time
        ("ΑΣ@x.com", "ασ@x.com", True),         # no final sigma
        ("ΑΣ@x.com", "ας@x.com", False),
        ("   ", " ", False),                    # empty after trimming: no identifier
    ],
)
def test_configured_identifiers_are_normalised(first: str, second: str, joined: bool) -> None:
    email = IdentityConfig(identifiers={"email": IdentifierConfig(paths=("traits.email",), normalize=("trim", "lowercase"))})
    log = Log().identify(0, None, "a1", email=first).identify(1, None, "a2", email=second)
    assert members(log, {"all": []}, 1, email) == (["a1"] if joined else ["a1", "a2"])


def test_limits_refuse_a_join() -> None:
    capped = IdentityConfig(limits={"anonymous_id": 1})
    log = Log().identify(0, "u1", "a1").identify(5, "u1", "a2").track("Viewed", 6, None, "a2")
    assert members(log, {"performed": "Viewed"}, 10, capped) == ["a2"]
    assert members(log, {"performed": "Viewed"}, 10) == ["u1"]


def test_profiles_at_groups_messages_by_primary_identifier() -> None:
    log = Log().identify(0, "u1", "a1").identify(1, "u2", "a1").track("Viewed", 2, "u2", "a1")
    profiles = {p.id: [m.seq for m in p.messages] for p in profiles_at(log.rows, IdentityConfig(), at(5))}
    assert profiles == {"u1": [1], "u2": [2, 3]}  # u2's track counts for u2 although a1 is u1's


def test_rows_read_from_a_store() -> None:
    """The reference reads the store's rows (JSON as text, aware datetimes)."""
    messages = [
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"plan": "pro"}, "timestamp": "2026-03-01T09:10:00Z"},
        {"type": "track", "anonymousId": "a1", "event": "Viewed", "properties": {"n": 3.0}, "timestamp": "2026-03-01T09:00:00Z"},
    ]
    with ingest(messages) as store:
        rows = stored_rows(store)
    loaded = load_segments({"s": {"all": [{"trait": "plan", "eq": "pro"}, {"performed": "Viewed", "where": {"n": 3}}]}})
    assert reference_memberships(rows, loaded, IdentityConfig(), at(5)) == {"s": []}
    assert reference_memberships(rows, loaded, IdentityConfig(), at(10)) == {"s": ["u1"]}
