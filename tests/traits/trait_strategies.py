"""Hypothesis strategies: random computed traits, segments reading them, and instants days apart.

Events, filters and windows come from the segment tests' vocabulary
(``tests/segments/strategies.py``), so traits see every JSON kind, ties
between event times, and instants exactly on a window's edge.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from strategies import (
    _PROPERTY_VALUES,
    _TRAIT_VALUES,
    AGGREGATE_PATHS,
    ANONYMOUS,
    DURATIONS,
    EVENTS,
    LAST_TICK,
    NUMBERS,
    USERS,
    Stream,
    _who,
    comparisons,
    tick,
    where,
)

from segmint.traits.definition import KINDS

TRAIT_NAMES = ("t0", "t1", "t2", "t3")
PERIODS = ("5m", "10m", "15m", "30m", "1h", "1d")
PERS = ("1m", "5m", "10m", "1h")
NUMBER_PATHS = ("n", "n", "n", *AGGREGATE_PATHS)
VALUE_PATHS = ("n", "s", "n", "s", "n", "s", "cart", "flag", "tags", "obj", "obj.k")


def _optional(**choices: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=choices)  # type: ignore[arg-type]


# Traits mostly read the two commonest events, with a filter now and then, so values are rarely empty.
_EVENT = st.sampled_from((EVENTS[0], EVENTS[0], EVENTS[1], EVENTS[2]))
_WHERE = st.one_of(st.just({}), st.just({}), st.just({}), where().map(lambda w: {"where": w}))
# Windows mostly long enough to hold several events; now and then any.
_WITHIN = st.one_of(st.sampled_from(("30m", "1h", "2h", "1d")), st.sampled_from(DURATIONS))


def _trait(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    filters = _WHERE
    windowed = st.builds(lambda w, extra: {**w, **extra}, _WHERE, _optional(within=_WITHIN))
    event = _EVENT
    if kind in ("count", "days_since"):
        return st.builds(lambda e, extra: {kind: e, **extra}, event, windowed)
    if kind in ("sum", "avg", "min", "max", "first", "last", "most_frequent", "distinct_count"):
        paths = NUMBER_PATHS if kind in ("sum", "avg", "min", "max") else VALUE_PATHS
        return st.builds(lambda p, e, extra: {kind: p, "of": e, **extra}, st.sampled_from(paths), event, windowed)
    measure = st.one_of(st.just({kind: "count"}), st.sampled_from(NUMBER_PATHS).map(lambda p: {kind: "sum", "property": p}))
    if kind == "trend":
        return st.builds(lambda m, e, p, extra: {**m, "of": e, "period": p, **extra}, measure, event, st.sampled_from(PERIODS), filters)
    within = st.sampled_from([d for d in DURATIONS if d not in ("5m", "300s")])
    return st.builds(lambda m, e, w, p, extra: {**m, "of": e, "within": w, "per": p, **extra},
                     measure, event, within, st.sampled_from(("1m", "5m")), filters)


any_trait = st.sampled_from(KINDS).flatmap(_trait)


def trait_definitions(max_traits: int = 3, kind: str | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """A ``traits:`` mapping (of one ``kind`` only, when given)."""
    drawn = any_trait if kind is None else _trait(kind)
    return st.dictionaries(st.sampled_from(TRAIT_NAMES), drawn, min_size=1, max_size=max_traits)


_OPERANDS = NUMBERS + (0.5, 1.5, "a", "b", "3", True, 7, 20)


def _condition(names: list[str], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.one_of(
        st.builds(lambda n, c: {"trait": n, **c}, st.sampled_from(names), comparisons(_OPERANDS)),
        st.builds(lambda e: {"performed": e}, st.sampled_from(EVENTS)),
    )
    if depth == 0:
        return leaf
    inner = _condition(names, depth - 1)
    return st.one_of(
        leaf, leaf,
        st.builds(lambda cs: {"all": cs}, st.lists(inner, max_size=2)),
        st.builds(lambda cs: {"any": cs}, st.lists(inner, max_size=2)),
        st.builds(lambda c: {"not": c}, inner),
    )


def segments_reading(traits: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """One to three segments whose ``trait:`` conditions read the computed traits."""
    names = sorted(traits)
    return st.dictionaries(st.sampled_from(("s0", "s1", "s2")), _condition(names, 1), min_size=1, max_size=3)


def _track() -> st.SearchStrategy[dict[str, Any]]:
    when = st.integers(0, LAST_TICK).map(lambda k: {"timestamp": tick(k).isoformat().replace("+00:00", "Z")})
    # Usually a number in `n` and a text in `s`; now and then anything the segment tests send.
    common = st.fixed_dictionaries({
        "n": st.one_of(st.sampled_from(NUMBERS), st.sampled_from(NUMBERS), _PROPERTY_VALUES["n"]),
        "s": st.one_of(st.sampled_from(("a", "b", "ab")), _PROPERTY_VALUES["s"]),
    })
    properties = st.one_of(common, common, st.fixed_dictionaries({}, optional=_PROPERTY_VALUES))  # type: ignore[arg-type]
    # Mostly one user's events (so values have several events to summarise), and anyone's.
    who = st.one_of(st.just({"userId": "u1"}), st.just({"anonymousId": "a1"}), _who())
    return st.builds(lambda who, at, event, props: {"type": "track", **who, **at, "event": event, "properties": props},
                     who, when, _EVENT, properties)


def _joining() -> st.SearchStrategy[dict[str, Any]]:
    """identify and alias calls that join anonymous ids to users (sometimes late)."""
    when = st.integers(0, LAST_TICK).map(lambda k: {"timestamp": tick(k).isoformat().replace("+00:00", "Z")})
    identify = st.builds(lambda u, a, at, traits: {"type": "identify", "userId": u, "anonymousId": a, **at, "traits": traits},
                         st.sampled_from(USERS), st.sampled_from(ANONYMOUS), when,
                         st.fixed_dictionaries({}, optional=_TRAIT_VALUES))  # type: ignore[arg-type]
    alias = st.builds(lambda u, p, at: {"type": "alias", "userId": u, "previousId": p, **at},
                      st.sampled_from(USERS), st.sampled_from(ANONYMOUS), when)
    return st.one_of(identify, alias)


@st.composite
def streams(draw: st.DrawFn, max_messages: int = 16) -> Stream:
    """Mostly track calls of the traits' events, in an arrival order that is not time order."""
    drawn = draw(st.lists(st.one_of(_track(), _track(), _track(), _joining()), min_size=3, max_size=max_messages))
    arrival = draw(st.permutations(range(len(drawn))))
    return Stream(tuple({**drawn[i], "messageId": f"m{n}"} for n, i in enumerate(arrival)))


def instants(count: int = 4) -> st.SearchStrategy[list[datetime]]:
    """Instants on the grid, some a day or two later (for ``days_since``), ascending."""
    moment = st.builds(
        lambda k, days: tick(k) + timedelta(days=days),
        st.one_of(st.integers(LAST_TICK // 2, LAST_TICK + 2), st.integers(0, LAST_TICK + 14)),
        st.sampled_from((0, 0, 0, 0, 1, 2)),
    )
    return st.lists(moment, min_size=1, max_size=count, unique=True).map(sorted)


__all__ = ["any_trait", "instants", "segments_reading", "streams", "trait_definitions"]
