"""The evaluator's shortcuts answer as a full evaluation would.

The evaluator decides many leaves without evaluating them (an event that
only starts a "performed within" window, an all-history count, a
``followed_by`` without ``within`` made true by the new event's partner, a
"performed within" whose due passed), keeps messages from the future in a
list sorted latest first, and wakes profiles through ``timers.Schedule``.
These tests hold each of those to the slow, obvious answer:

- after every ``feed`` and ``advance``, each live profile's cached leaf
  values equal the leaves evaluated afresh over its identifiers' logs, its
  segments equal the formulas over those values, and it is scheduled no
  later than the next instant any of its leaves says time alone may flip it;
- future messages fed in any order and any chunking (one per call, a few,
  all at once), with a snapshot taken while some are held, become visible
  in time order, giving the memberships of an evaluator fed in time order;
- the schedule wakes exactly the profiles whose due has come, once each, as
  a plain dictionary of dues would; a profile's dues (an array of 64-bit
  instants, scanned in C where compiled) answer as that dictionary would.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from test_realtime_kit import Messages, at, evaluator
from test_realtime_order import DEFINITIONS, GRID, IDENTITIES, in_order, streams

from segmint.config.model import IdentityConfig
from segmint.segments.realtime import RealtimeEvaluator
from segmint.segments.realtime.timers import NEVER, Schedule, Scheduled, due, earliest, new_dues, passed, set_due


def assert_verdicts_are_fresh(ev: RealtimeEvaluator) -> None:
    plan, now = ev._plan, ev._clock
    for key, state in ev._ids.items():  # each identifier's state points to its profile
        assert state.profile is ev._profile_of[key] and state.profile.alive, key
    for profile in ev._by_id.values():
        assert not profile.dirty and not profile.changed, profile.id
        wakes = []
        for i, leaf in enumerate(plan.leaves):
            value, due = leaf.evaluate(profile.states, now)
            assert profile.leaves[i] == value, (profile.id, i, leaf)
            if due is not None:
                wakes.append(due)
        for j, formula in enumerate(plan.formulas):
            assert profile.segments[j] == formula(profile.leaves, profile.segments), (profile.id, plan.names[j])
        if wakes:  # woken at or before every instant time alone may change a leaf: never a miss
            assert profile.due != NEVER and profile.due <= min(wakes), profile.id
            assert any(waiting is profile for waiting in ev._schedule.waiting.get(profile.due, ()))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=streams(), data=st.data(), identity=st.sampled_from(IDENTITIES))
def test_cached_verdicts_equal_a_fresh_evaluation(rows: list[dict[str, Any]], data: st.DataObject,
                                                  identity: IdentityConfig) -> None:
    arrival = data.draw(st.permutations(rows), label="arrival")
    note("\n".join(str(r) for r in arrival))
    ev = RealtimeEvaluator(DEFINITIONS, identity, start=GRID[0])
    clock = GRID[0]
    for row in arrival:  # as `segmint replay` and the server drive it: feed, then the clock follows
        ev.feed([row])
        assert_verdicts_are_fresh(ev)
        if row["event_time"] > clock:
            clock = row["event_time"]
            ev.advance(clock)
            assert_verdicts_are_fresh(ev)
    for instant in GRID:
        ev.advance(instant)
        assert_verdicts_are_fresh(ev)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=streams(), data=st.data(), identity=st.sampled_from(IDENTITIES))
def test_future_messages_fed_in_any_chunks_become_visible_in_time_order(
        rows: list[dict[str, Any]], data: st.DataObject, identity: IdentityConfig) -> None:
    arrival = data.draw(st.permutations(rows), label="arrival")
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=len(rows)), label="chunk ends"))
    snapshot_after = data.draw(st.integers(0, len(cuts)), label="snapshot after chunk")
    note("\n".join(str(r) for r in arrival))
    expected = in_order(rows, identity)
    ev = RealtimeEvaluator(DEFINITIONS, identity)  # before everything: all of it is held
    start = 0
    for n, end in enumerate([*cuts, len(rows)]):
        ev.feed(arrival[start:end])
        start = end
        if n == snapshot_after:  # held messages survive a restart, in their order
            ev = RealtimeEvaluator.restore(ev.snapshot(), DEFINITIONS, identity)
    for instant in GRID:
        ev.advance(instant)
        assert ev.memberships() == expected[instant], instant


def test_followed_by_is_decided_by_a_partner_in_another_identifier() -> None:
    """A in an anonymous id, B under the user id it was linked to: a pair the moment B comes."""
    definitions = """
    then_bought: {performed: A, followed_by: {performed: B, within: 10m, same: [cart]}}
    then_anything: {performed: A, followed_by: {performed: B}}
    """
    m = Messages()
    m.track(0, "A", anon="a1", cart="c1")
    m.identify(1, user="u1", anon="a1")
    m.track(5, "B", user="u1", cart="c2")   # another cart: no pair with a gap and `same`
    m.track(11, "B", user="u1", cart="c1")  # too late for the gap of 10m
    ev = evaluator(definitions, start=at(0))
    ev.feed(m.rows[:2])
    ev.advance(at(1))
    assert ev.memberships() == {"then_anything": [], "then_bought": []}
    ev.advance(at(5))
    ev.feed(m.rows[2:3])
    assert ev.memberships() == {"then_anything": ["u1"], "then_bought": []}
    ev.advance(at(11))
    ev.feed(m.rows[3:])
    assert ev.memberships() == {"then_anything": ["u1"], "then_bought": []}
    m.track(12, "B", user="u1", cart="c3")
    m.track(13, "A", user="u1", cart="c3")  # B before A: no pair
    ev.advance(at(13))
    ev.feed(m.rows[4:])
    assert ev.memberships() == {"then_anything": ["u1"], "then_bought": []}
    m.track(14, "B", anon="a1", cart="c3")  # under the other identifier, 1 minute after its A
    ev.advance(at(14))
    ev.feed(m.rows[6:])
    assert ev.memberships() == {"then_anything": ["u1"], "then_bought": ["u1"]}


# ---- the schedule against a dictionary of dues ----------------------------------------


class Waiter(Scheduled):
    def __init__(self, name: int) -> None:
        super().__init__()
        self.name = name

    def __repr__(self) -> str:
        return f"Waiter({self.name}, due={self.due}, alive={self.alive})"


Step = tuple[str, int, int]
steps = st.lists(st.one_of(
    st.tuples(st.just("want"), st.integers(0, 5), st.integers(1, 30)),  # waiter, instants after now
    st.tuples(st.just("kill"), st.integers(0, 5), st.just(0)),
    st.tuples(st.just("advance"), st.just(0), st.integers(1, 10)),  # by this many instants
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(steps=steps)
def test_the_schedule_wakes_whom_a_dictionary_of_dues_would(steps: list[Step]) -> None:
    schedule = Schedule()
    waiters = [Waiter(i) for i in range(6)]
    dues: dict[int, int] = {}  # the model: each live waiter's earliest wanted instant
    now = 0
    for kind, who, value in steps:
        if kind == "want":
            at_ = now + value
            schedule.want(waiters[who], at_)
            if waiters[who].alive:
                dues[who] = min(dues.get(who, at_), at_)
        elif kind == "kill":
            waiters[who].alive = False
            dues.pop(who, None)
        else:
            target = now + value
            while (at_ := schedule.next_at()) is not None and at_ <= target:  # as the evaluator's clock loop
                woken = []
                for waiter in schedule.take(at_):
                    if waiter.alive and waiter.due == at_:
                        waiter.due = NEVER
                        woken.append(waiter.name)
                expected = sorted(w for w, due in dues.items() if due == at_)
                assert sorted(woken) == expected, (at_, woken, expected)
                assert all(due > at_ for w, due in dues.items() if w not in woken)
                for w in woken:
                    del dues[w]
                now = at_
            now = target
        assert schedule.next_at() == (min(dues.values()) if dues else None)


instants_or_none = st.one_of(st.none(), st.integers(-(1 << 60), 1 << 60))


@settings(max_examples=300, deadline=None)
@given(leaves=st.integers(1, 70), sets=st.lists(st.tuples(st.integers(0, 69), instants_or_none), max_size=40),
       probes=st.lists(st.integers(-(1 << 60), 1 << 60), max_size=5))
def test_a_profiles_dues_answer_as_a_dictionary_would(leaves: int, sets: list[tuple[int, int | None]],
                                                      probes: list[int]) -> None:
    dues, model = new_dues(leaves), {}  # the model: leaf -> due, absent when none
    for leaf, at_ in sets:
        leaf %= leaves
        set_due(dues, leaf, NEVER if at_ is None else at_)
        if at_ is None:
            model.pop(leaf, None)
        else:
            model[leaf] = at_
        assert due(dues, leaf) == model.get(leaf, NEVER)
    assert [due(dues, leaf) for leaf in range(leaves)] == [model.get(leaf, NEVER) for leaf in range(leaves)]
    assert earliest(dues) == min(model.values(), default=NEVER)
    for probe in [*probes, *model.values()]:
        assert passed(dues, probe) == sorted(leaf for leaf, at_ in model.items() if at_ <= probe)


def test_held_messages_one_a_call_stay_sorted() -> None:
    """Future messages fed one per call land in order (inserted), then a batch (sorted)."""
    m = Messages()
    minutes = [9, 3, 7, 3, 1, 8, 2, 6, 5, 4, 0.5, 7]
    for minute in minutes:
        m.track(minute, "V", user="u1")
    ev = evaluator("recent: {performed: V, within: 10m}", start=at(0))
    for row in m.rows[:8]:
        ev.feed([row])
    ev.feed(m.rows[8:])
    held = [(entry[0], entry[1]) for entry in ev._held]
    assert held == sorted(held, reverse=True) and len(held) == len(minutes)
    assert ev.next_instant() == at(0.5)
    ev.advance(at(0.5))
    assert ev.members("recent") == ["u1"] and len(ev._held) == len(minutes) - 1
    ev.advance(at(9))
    assert not ev._held and ev.members("recent") == ["u1"]
    ev.advance(at(19))  # the latest view, at 9, leaves the window
    assert ev.members("recent") == []


def test_only_events_whose_properties_are_read_are_parsed() -> None:
    """A route reads properties through a ``where``, an aggregate or ``same`` values; no other event is parsed."""
    ev = evaluator({
        "seen": {"performed": "A", "within": "1h"},
        "filtered": {"performed": "B", "where": {"x": 1}},
        "spent": {"performed": "C", "sum": {"property": "v", "gte": 1}},
        "same_cart": {"performed": "D", "followed_by": {"performed": "E", "within": "1h", "same": ["cart"]}},
        "any_order": {"performed": "F", "followed_by": {"performed": "G"}},
        "abandoned": {"performed": "H", "not_followed_by": {"performed": "I", "within": "1h"}},
    })
    assert ev._plan.parsed == {"B", "C", "D", "E"}
    m = Messages()
    m.track(0, "F", user="u1", cart=1)
    m.track(1, "G", user="u1", cart=2)
    m.track(2, "D", user="u1", cart=7)
    m.track(3, "E", user="u1", cart=7)
    ev.feed(m.rows)
    ev.advance(at(4))
    assert ev.segments_of("u1") == ["any_order", "same_cart"]
