"""Arrival order never changes the answer: shuffled, in order, all at once, restored.

For random streams over definitions that cover every condition kind, at
every instant of a grid, the memberships of

- an evaluator fed in timestamp order, its clock stepping through the grid,
- one fed in a random arrival order (late messages, late links), its clock
  following the latest event time fed, as ``segmint replay`` drives it,
- a fresh one started at the instant and fed everything up to it at once,
- and one restored from a snapshot taken mid-stream,

are the same; and the changes each emitted, applied in order, give its
memberships, none of them redundant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from test_realtime_kit import Messages, as_sorted, at, fold, segments

from segmint.config.model import IdentityConfig
from segmint.segments.realtime import RealtimeEvaluator

DEFINITIONS = segments("""
recent: {performed: V, within: 10m}
busy: {performed: V, within: 15m, count: {gte: 2}}
exactly_two: {performed: V, count: {eq: 2}}
cheap: {performed: B, where: {price: {lt: 5}}}
spent: {performed: B, sum: {property: price, gte: 10}}
avg_recent: {performed: B, within: 20m, avg: {property: price, gt: 3}}
min_recent: {performed: B, within: 20m, min: {property: price, lte: 2}}
max_ever: {performed: B, max: {property: price, gte: 9}}
then_bought: {performed: A, followed_by: {performed: B, within: 10m, same: [cart]}}
then_bought_recent: {performed: A, within: 30m, followed_by: {performed: B}}
then_anything: {performed: A, followed_by: {performed: A}}
abandoned: {performed: A, within: 1h, not_followed_by: {performed: B, within: 10m, same: [cart]}}
abandoned_ever: {performed: A, not_followed_by: {performed: B, within: 15m}}
pro: {trait: plan, eq: pro}
no_age: {trait: age, exists: false}
vip: {all: [{in_segment: spent}, {not: {in_segment: recent}}]}
either: {any: [{in_segment: pro}, {performed: V, within: 5m}]}
""")
IDENTITIES = (IdentityConfig(), IdentityConfig(limits={"anonymous_id": 1}))
GRID = [at(5 * k) for k in range(-1, 26)]     # messages sit on 0..60 minutes; windows reach 2h past


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    m = Messages()
    users, anons = st.sampled_from(["u1", "u2"]), st.sampled_from(["a1", "a2", "a3"])
    who = st.one_of(users.map(lambda u: {"user": u}), anons.map(lambda a: {"anon": a}),
                    st.tuples(users, anons).map(lambda p: {"user": p[0], "anon": p[1]}))
    minute = st.integers(0, 12).map(lambda k: 5 * k)
    props = st.fixed_dictionaries({}, optional={
        "cart": st.sampled_from(["c1", "c2", 3, 3.0, True]), "price": st.sampled_from([1, 2.5, 6, 0.1, True, "3"])})
    for _ in range(draw(st.integers(1, 16))):
        kind = draw(st.sampled_from(["track", "track", "track", "identify", "alias", "page"]))
        when = draw(minute)
        if kind == "track":
            m.track(when, draw(st.sampled_from("VAB")), **draw(who), **draw(props))
        elif kind == "identify":
            traits = draw(st.fixed_dictionaries({}, optional={
                "plan": st.sampled_from(["pro", "free", None]), "age": st.sampled_from([30, None])}))
            m.identify(when, **draw(who), **traits)
        elif kind == "alias":
            m.alias(when, draw(users), draw(anons))
        else:
            m.page(when, **draw(who))
    return m.rows


def in_order(rows: list[dict[str, Any]], identity: IdentityConfig) -> dict[datetime, Any]:
    ev = RealtimeEvaluator(DEFINITIONS, identity)
    ev.feed(sorted(rows, key=lambda r: (r["event_time"], r["seq"])))
    answers = {}
    for instant in GRID:
        ev.advance(instant)
        answers[instant] = ev.memberships()
    return answers


def shuffled(rows: list[dict[str, Any]], arrival: list[int], identity: IdentityConfig,
             restore_at: int) -> tuple[dict[datetime, Any], dict[datetime, Any]]:
    """Each instant's memberships, and the changes emitted so far applied in order."""
    ev = RealtimeEvaluator(DEFINITIONS, identity)
    pending = [rows[i] for i in arrival]
    clock: datetime | None = None
    seen: dict[str, set[str]] = {}
    answers, replayed = {}, {}
    for n, instant in enumerate(GRID):
        due = [r for r in pending if r["event_time"] <= instant]
        pending = [r for r in pending if r["event_time"] > instant]
        for row in due:
            fold(ev.feed([row]), seen)
            if clock is None or row["event_time"] > clock:
                clock = row["event_time"]
                fold(ev.advance(clock), seen)
        fold(ev.advance(instant), seen)
        if n == restore_at:
            restored = RealtimeEvaluator.restore(ev.snapshot(), DEFINITIONS, identity)
            assert restored.memberships() == ev.memberships()
            ev = restored
        answers[instant] = ev.memberships()
        replayed[instant] = as_sorted(seen, DEFINITIONS.names)
    return answers, replayed


def all_at_once(rows: list[dict[str, Any]], identity: IdentityConfig, instant: datetime) -> Any:
    ev = RealtimeEvaluator(DEFINITIONS, identity, start=instant)
    ev.feed([r for r in reversed(rows) if r["event_time"] <= instant])
    return ev.memberships()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=streams(), data=st.data(), identity=st.sampled_from(IDENTITIES))
def test_arrival_order_never_changes_the_memberships(rows: list[dict[str, Any]], data: st.DataObject,
                                                     identity: IdentityConfig) -> None:
    arrival = data.draw(st.permutations(range(len(rows))), label="arrival")
    restore_at = data.draw(st.integers(0, len(GRID) - 1), label="restore at")
    note("\n".join(str(r) for r in rows))
    expected = in_order(rows, identity)
    answers, replayed = shuffled(rows, arrival, identity, restore_at)
    for instant in GRID:
        assert answers[instant] == expected[instant], instant
        assert replayed[instant] == expected[instant], instant
    for instant in GRID[::4]:
        assert all_at_once(rows, identity, instant) == expected[instant], instant
