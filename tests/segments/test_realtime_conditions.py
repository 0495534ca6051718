"""Every condition kind and operator, on small streams, answers worked out from the spec.

Each test builds a handful of messages, evaluates at one instant and
compares the members of each segment with what shared/spec/segments.md
says, case by case (the comment next to each case says why).
"""

from __future__ import annotations

from typing import Any

import pytest
from test_realtime_kit import Messages, members_at

# ---- counts -----------------------------------------------------------------------

COUNTS = Messages()
for minute in (0, 1, 2):
    COUNTS.track(minute, "Viewed", user="u1")      # u1: 3 views
COUNTS.track(0, "Viewed", user="u2")              # u2: 1 view
COUNTS.page(0, user="u3")                         # u3: exists, 0 views


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"performed": "Viewed"}, ["u1", "u2"]),                        # count defaults to gte 1
        ({"performed": "Viewed", "count": {"eq": 3}}, ["u1"]),
        ({"performed": "Viewed", "count": {"ne": 3}}, ["u2", "u3"]),     # 0 is a count too
        ({"performed": "Viewed", "count": {"gt": 1}}, ["u1"]),
        ({"performed": "Viewed", "count": {"gte": 3}}, ["u1"]),
        ({"performed": "Viewed", "count": {"lt": 3}}, ["u2", "u3"]),
        ({"performed": "Viewed", "count": {"lte": 1}}, ["u2", "u3"]),
        ({"performed": "Viewed", "count": {"in": [0, 1]}}, ["u2", "u3"]),
        ({"performed": "Viewed", "count": {"not_in": [3]}}, ["u2", "u3"]),
        ({"performed": "Viewed", "count": {"between": [1, 2]}}, ["u2"]),
        ({"performed": "Viewed", "count": {"gte": 1, "lt": 3}}, ["u2"]),  # several operators: all hold
        ({"performed": "Viewed", "count": {"gt": 1.5}}, ["u1"]),          # a count compares as a number
        ({"performed": "Viewed", "count": {"eq": "3"}}, []),              # ...never with a string
        ({"performed": "Viewed", "count": {"ne": "3"}}, ["u1", "u2", "u3"]),
        ({"performed": "Missing", "count": {"eq": 0}}, ["u1", "u2", "u3"]),
        ({"not": {"performed": "Viewed"}}, ["u3"]),                      # never did it
    ],
)
def test_count_operators(condition: dict[str, Any], expected: list[str]) -> None:
    assert members_at({"s": condition}, COUNTS.rows, 10)["s"] == expected


# ---- where filters ----------------------------------------------------------------

WHERE = Messages()
WHERE.track(0, "Viewed", user="u1", category="outdoor", price=30, tags=["sale", "new"], size={"eu": 42},
            note="big sale", day="2026-01-02", big=2**53 + 1)
WHERE.track(0, "Viewed", user="u2", category="Outdoor", price="30", tags="sale", flag=True, day="2025-12-31")
WHERE.track(0, "Viewed", user="u3", category=None, price=30.0, flag=1)
WHERE.track(0, "Viewed", user="u4")


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"category": "outdoor"}, ["u1"]),                       # plain value: eq; strings are case-sensitive
        ({"category": {"eq": "outdoor"}}, ["u1"]),
        ({"category": {"ne": "outdoor"}}, ["u2"]),               # ne on a missing (or null) value is false
        ({"price": 30}, ["u1", "u3"]),                           # 30 == 30.0; "30" is a string
        ({"price": {"ne": 30}}, ["u2"]),                         # a number and a string are never equal
        ({"price": {"gt": 20}}, ["u1", "u3"]),
        ({"price": {"gte": 30}}, ["u1", "u3"]),
        ({"price": {"lt": 31}}, ["u1", "u3"]),
        ({"price": {"lte": 29}}, []),
        ({"price": {"in": [30, "x"]}}, ["u1", "u3"]),
        ({"price": {"not_in": [30]}}, ["u2"]),                   # not_in on a missing value is false
        ({"price": {"between": [25, 35]}}, ["u1", "u3"]),        # inclusive; strings do not compare with numbers
        ({"price": {"between": [30, 30]}}, ["u1", "u3"]),
        ({"note": {"contains": "sale"}}, ["u1"]),                # substring of a string
        ({"tags": {"contains": "sale"}}, ["u1", "u2"]),          # element of a list, or substring
        ({"tags": {"contains": "sa"}}, ["u2"]),                  # a list element must equal
        ({"flag": True}, ["u2"]),                                # booleans equal only booleans
        ({"flag": {"ne": True}}, ["u3"]),
        ({"category": {"exists": False}}, ["u3", "u4"]),         # JSON null is missing
        ({"category": {"exists": True}}, ["u1", "u2"]),
        ({"size.eu": 42}, ["u1"]),                               # dot paths reach nested properties
        ({"size.us": {"exists": False}}, ["u1", "u2", "u3", "u4"]),
        ({"day": {"gt": "2026-01-01"}}, ["u1"]),                 # ISO strings compare as text
        ({"big": 2**53}, ["u1"]),                                # numbers compare as doubles: 2**53 + 1 is 2**53
        ({"price": {"gt": 20, "lt": 31}}, ["u1", "u3"]),         # several operators: all hold
        ({"category": "outdoor", "price": 30}, ["u1"]),          # several properties: all hold
    ],
)
def test_where_operators(where: dict[str, Any], expected: list[str]) -> None:
    assert members_at({"s": {"performed": "Viewed", "where": where}}, WHERE.rows, 10)["s"] == expected


def test_performed_matches_track_events_by_exact_name_only() -> None:
    m = Messages()
    m.track(0, "viewed", user="u1")       # other case
    m.page(0, user="u2")                  # a page named like the event is no track call
    m.rows[-1]["event"] = "Viewed"
    m.track(0, "Viewed", user="u3")
    assert members_at({"s": {"performed": "Viewed"}}, m.rows, 1)["s"] == ["u3"]


# ---- within -----------------------------------------------------------------------


def test_within_is_open_at_its_far_end() -> None:
    m = Messages()
    m.track(0, "Viewed", user="u1")
    m.track(5, "Viewed", user="u2")
    definition = {"s": {"performed": "Viewed", "within": "10m"}}
    assert members_at(definition, m.rows, 9.99)["s"] == ["u1", "u2"]
    assert members_at(definition, m.rows, 10)["s"] == ["u2"]     # an event exactly 10m old no longer counts
    assert members_at(definition, m.rows, 15)["s"] == []


def test_windowed_counts_count_only_the_window() -> None:
    m = Messages()
    for minute in (0, 4, 8, 9):
        m.track(minute, "Viewed", user="u1")
    definition = {"two": {"performed": "Viewed", "within": "5m", "count": {"gte": 2}},
                  "exactly_three": {"performed": "Viewed", "within": "6m", "count": {"eq": 3}}}
    assert members_at(definition, m.rows, 9) == {"two": ["u1"], "exactly_three": ["u1"]}       # 8, 9 | 4, 8, 9
    assert members_at(definition, m.rows, 9.99) == {"two": ["u1"], "exactly_three": ["u1"]}    # 8, 9 | 4, 8, 9
    assert members_at(definition, m.rows, 10) == {"two": ["u1"], "exactly_three": []}          # 8, 9 | 8, 9
    assert members_at(definition, m.rows, 12.99) == {"two": ["u1"], "exactly_three": []}       # 8, 9
    assert members_at(definition, m.rows, 13) == {"two": [], "exactly_three": []}              # 9 only


# ---- aggregates -------------------------------------------------------------------

AGGREGATES = Messages()
AGGREGATES.track(0, "Ordered", user="u1", total=100)
AGGREGATES.track(1, "Ordered", user="u1", total=250.5)
AGGREGATES.track(2, "Ordered", user="u1", total=True)     # a boolean is not a number
AGGREGATES.track(3, "Ordered", user="u1", total="50")     # nor is a numeric string
AGGREGATES.track(0, "Ordered", user="u2")                 # no total at all
AGGREGATES.track(0, "Ordered", user="u3", total=None)
AGGREGATES.page(0, user="u4")                             # never ordered


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [
        ({"sum": {"property": "total", "eq": 350.5}}, ["u1"]),
        ({"avg": {"property": "total", "eq": 175.25}}, ["u1"]),  # over the two numbers only
        ({"min": {"property": "total", "eq": 100}}, ["u1"]),
        ({"max": {"property": "total", "gt": 250}}, ["u1"]),
        ({"sum": {"property": "total", "lt": 1000}}, ["u1"]),    # over no numbers the sum is missing: false
        ({"sum": {"property": "total", "exists": False}}, ["u2", "u3", "u4"]),  # ...except exists: false
        ({"avg": {"property": "total", "ne": 1}}, ["u1"]),       # ne on a missing value is false
        ({"max": {"property": "total", "in": [250.5]}}, ["u1"]),
    ],
)
def test_aggregates(aggregate: dict[str, Any], expected: list[str]) -> None:
    condition = {"performed": "Ordered", **aggregate}
    assert members_at({"s": condition}, AGGREGATES.rows, 10)["s"] == expected


def test_sums_are_exact_whatever_the_order() -> None:
    # 0.1 + 0.2 + 0.3 is 0.6000000000000001 left to right, 0.6 right to left; the exact sum is 0.6.
    for order in ((0.1, 0.2, 0.3), (0.3, 0.2, 0.1)):
        m = Messages()
        for minute, value in enumerate(order):
            m.track(minute, "Paid", user="u1", amount=value)
        definition = {"s": {"performed": "Paid", "sum": {"property": "amount", "eq": 0.6}}}
        assert members_at(definition, m.rows, 10)["s"] == ["u1"]


def test_windowed_aggregates() -> None:
    m = Messages()
    m.track(0, "Paid", user="u1", amount=6)
    m.track(5, "Paid", user="u1", amount=6)
    m.track(6, "Paid", user="u1", amount=1)
    definition = {"sum": {"performed": "Paid", "within": "10m", "sum": {"property": "amount", "gte": 12}},
                  "min": {"performed": "Paid", "within": "10m", "min": {"property": "amount", "gte": 6}},
                  "avg": {"performed": "Paid", "within": "10m", "avg": {"property": "amount", "eq": 3.5}},
                  "max": {"performed": "Paid", "within": "10m", "max": {"property": "amount", "exists": False}}}
    assert members_at(definition, m.rows, 5) == {"sum": ["u1"], "min": ["u1"], "avg": [], "max": []}
    assert members_at(definition, m.rows, 6) == {"sum": ["u1"], "min": [], "avg": [], "max": []}
    assert members_at(definition, m.rows, 10) == {"sum": [], "min": [], "avg": ["u1"], "max": []}  # 6 and 1
    assert members_at(definition, m.rows, 16) == {"sum": [], "min": [], "avg": [], "max": ["u1"]}  # none left


# ---- followed_by ------------------------------------------------------------------


def _sequence_members(condition: dict[str, Any], build: Any, minute: float = 100) -> list[str]:
    m = Messages()
    build(m)
    return members_at({"s": condition}, m.rows, minute)["s"]


def test_followed_by() -> None:
    def build(m: Messages) -> None:
        m.track(0, "Added", user="u1")
        m.track(5, "Bought", user="u1")       # after: yes
        m.track(0, "Bought", user="u2")
        m.track(5, "Added", user="u2")        # B before A: no
        m.track(3, "Bought", user="u3")
        m.track(3, "Added", user="u3")        # same instant, B written first: A.ts <= B.ts holds
        m.track(0, "Added", user="u4")
        m.track(20, "Bought", user="u4")      # 20 minutes later

    assert _sequence_members({"performed": "Added", "followed_by": {"performed": "Bought"}}, build) == ["u1", "u3", "u4"]
    within = {"performed": "Added", "followed_by": {"performed": "Bought", "within": "10m"}}
    assert _sequence_members(within, build) == ["u1", "u3"]
    exact_gap = {"performed": "Added", "followed_by": {"performed": "Bought", "within": "20m"}}
    assert _sequence_members(exact_gap, build) == ["u1", "u3", "u4"]   # B.ts <= A.ts + D, inclusive


def test_followed_by_needs_another_event_than_a() -> None:
    def build(m: Messages) -> None:
        m.track(0, "Viewed", user="u1")                 # one view: no second one
        m.track(0, "Viewed", user="u2")
        m.track(0, "Viewed", user="u2")                 # two at the same instant: each follows the other

    assert _sequence_members({"performed": "Viewed", "followed_by": {"performed": "Viewed"}}, build) == ["u2"]


def test_followed_by_with_same_values() -> None:
    def build(m: Messages) -> None:
        m.track(0, "Added", user="u1", cart="c1")
        m.track(1, "Bought", user="u1", cart="c2")      # another cart
        m.track(0, "Added", user="u2", cart="c1")
        m.track(1, "Bought", user="u2", cart="c1")
        m.track(0, "Added", user="u3", cart=3)
        m.track(1, "Bought", user="u3", cart=3.0)       # 3 == 3.0
        m.track(0, "Added", user="u4", cart=True)
        m.track(1, "Bought", user="u4", cart=1)         # a boolean equals only a boolean
        m.track(0, "Added", user="u5")                  # an A without the property is no match
        m.track(1, "Bought", user="u5")
        m.track(0, "Added", user="u6", cart=["x"])      # lists equal nothing
        m.track(1, "Bought", user="u6", cart=["x"])

    condition = {"performed": "Added", "followed_by": {"performed": "Bought", "same": ["cart"]}}
    assert _sequence_members(condition, build) == ["u2", "u3"]


def test_followed_by_where_and_the_window_of_a() -> None:
    def build(m: Messages) -> None:
        m.track(0, "Added", user="u1", price=5)
        m.track(2, "Bought", user="u1", paid=True)
        m.track(0, "Added", user="u2", price=50)        # A fails its where
        m.track(2, "Bought", user="u2", paid=True)
        m.track(0, "Added", user="u3", price=5)
        m.track(2, "Bought", user="u3", paid=False)     # B fails its where

    condition = {"performed": "Added", "where": {"price": {"lt": 10}}, "within": "10m",
                 "followed_by": {"performed": "Bought", "where": {"paid": True}}}
    assert _sequence_members(condition, build, minute=5) == ["u1"]
    assert _sequence_members(condition, build, minute=10) == []     # A left its window


# ---- not_followed_by --------------------------------------------------------------


def test_not_followed_by_waits_for_the_deadline() -> None:
    def build(m: Messages) -> None:
        m.track(0, "Added", user="u1")                  # never followed
        m.track(0, "Added", user="u2")
        m.track(30, "Bought", user="u2")                # exactly at the deadline: followed
        m.track(0, "Added", user="u3")
        m.track(31, "Bought", user="u3")                # too late

    condition = {"performed": "Added", "not_followed_by": {"performed": "Bought", "within": "30m"}}
    assert _sequence_members(condition, build, minute=29.99) == []  # not yet abandoned
    assert _sequence_members(condition, build, minute=30) == ["u1", "u3"]
    assert _sequence_members(condition, build, minute=60) == ["u1", "u3"]


def test_not_followed_by_with_same_values_and_a_window() -> None:
    def build(m: Messages) -> None:
        m.track(0, "Added", user="u1", cart="c1")
        m.track(5, "Bought", user="u1", cart="c2")      # another cart: c1 abandoned
        m.track(0, "Added", user="u2", cart="c1")
        m.track(5, "Bought", user="u2", cart="c1")      # this very cart
        m.track(0, "Added", user="u3")                  # no cart: not a matching A
        m.track(0, "Added", user="u4", cart="c1")
        m.track(10, "Added", user="u4", cart="c2")      # two carts, one checked out
        m.track(12, "Bought", user="u4", cart="c2")

    condition = {"performed": "Added", "within": "1h",
                 "not_followed_by": {"performed": "Bought", "within": "30m", "same": ["cart"]}}
    assert _sequence_members(condition, build, minute=30) == ["u1", "u4"]
    assert _sequence_members(condition, build, minute=59) == ["u1", "u4"]
    assert _sequence_members(condition, build, minute=60) == []     # the A left the 1h window


def test_a_b_that_is_the_a_itself_does_not_follow_it() -> None:
    def build(m: Messages) -> None:
        m.track(0, "Viewed", user="u1")
        m.track(0, "Viewed", user="u2")
        m.track(5, "Viewed", user="u2")                 # follows the first; the second is abandoned later

    condition = {"performed": "Viewed", "not_followed_by": {"performed": "Viewed", "within": "10m"}}
    assert _sequence_members(condition, build, minute=10) == ["u1"]
    assert _sequence_members(condition, build, minute=15) == ["u1", "u2"]


# ---- traits -----------------------------------------------------------------------

TRAITS = Messages()
TRAITS.identify(0, user="u1", age=30, plan="pro", tags=["a", "b"], vip=True)
TRAITS.identify(5, user="u1", age=31)                   # later value wins, key by key
TRAITS.identify(10, user="u1", plan=None)               # a null unsets
TRAITS.identify(0, user="u2", age="31", plan="Pro")
TRAITS.identify(3, user="u1", age=99)                   # older than the 31: loses, whatever the arrival order
TRAITS.page(0, user="u3")


@pytest.mark.parametrize(
    ("trait", "expected"),
    [
        ({"trait": "age", "eq": 31}, ["u1"]),                      # "31" is a string
        ({"trait": "age", "ne": 31}, ["u2"]),
        ({"trait": "age", "gt": 30}, ["u1"]),
        ({"trait": "age", "gte": 31}, ["u1"]),
        ({"trait": "age", "lt": 32}, ["u1"]),
        ({"trait": "age", "lte": 30}, []),
        ({"trait": "age", "in": [31, 40]}, ["u1"]),
        ({"trait": "age", "not_in": [31]}, ["u2"]),
        ({"trait": "age", "between": [25, 34]}, ["u1"]),
        ({"trait": "tags", "contains": "a"}, ["u1"]),
        ({"trait": "plan", "exists": True}, ["u2"]),               # u1's plan was unset at minute 10
        ({"trait": "plan", "exists": False}, ["u1", "u3"]),
        ({"trait": "vip", "eq": True}, ["u1"]),
        ({"not": {"trait": "age", "gte": 30}}, ["u2", "u3"]),      # includes profiles with no age
    ],
)
def test_trait_operators(trait: dict[str, Any], expected: list[str]) -> None:
    assert members_at({"s": trait}, TRAITS.rows, 20)["s"] == expected


def test_traits_as_of_an_instant_and_ties_broken_by_seq() -> None:
    assert members_at({"s": {"trait": "plan", "eq": "pro"}}, TRAITS.rows, 9)["s"] == ["u1"]
    m = Messages()
    m.identify(0, user="u1", plan="free")
    m.identify(0, user="u1", plan="pro")                   # same instant, later seq wins
    assert members_at({"s": {"trait": "plan", "eq": "pro"}}, m.rows, 0)["s"] == ["u1"]
    assert members_at({"s": {"trait": "plan", "eq": "pro"}}, list(reversed(m.rows)), 0)["s"] == ["u1"]


def test_track_properties_are_not_traits() -> None:
    m = Messages()
    m.track(0, "Viewed", user="u1", age=30)
    assert members_at({"s": {"trait": "age", "exists": True}}, m.rows, 1)["s"] == []


# ---- composition ------------------------------------------------------------------


def test_all_any_not_and_in_segment() -> None:
    m = Messages()
    m.track(0, "Ordered", user="u1", total=600)
    m.track(0, "Ordered", user="u2", total=100)
    m.identify(0, user="u2", vip=True)
    m.page(0, user="u3")
    definitions = """
    big: {performed: Ordered, sum: {property: total, gte: 500}}
    vip_or_big: {any: [{in_segment: big}, {trait: vip, eq: true}]}
    small: {all: [{performed: Ordered}, {not: {in_segment: big}}]}
    everyone: {all: []}
    no_one: {any: []}
    nothing_ordered: {not: {performed: Ordered}}
    """
    assert members_at(definitions, m.rows, 1) == {
        "big": ["u1"], "vip_or_big": ["u1", "u2"], "small": ["u2"], "everyone": ["u1", "u2", "u3"],
        "no_one": [], "nothing_ordered": ["u3"]}


def test_only_profiles_with_a_message_by_now_exist() -> None:
    m = Messages()
    m.page(0, user="u1")
    m.page(10, user="u2")
    assert members_at({"s": {"not": {"performed": "Ordered"}}}, m.rows, 5)["s"] == ["u1"]
