"""Time alone changes memberships: every change emitted, each at its exact instant.

Windows slide past events (an event at ts stops counting at ts + D),
``not_followed_by`` deadlines pass (A is abandoned at A.ts + D), held
messages become visible at their own time, and a late message counts as it
would have in order, its consequences stamped when they become known.
"""

from __future__ import annotations

from test_realtime_kit import T0, Messages, at, evaluator, fold

from segmint.segments.changes import Change


def enter(minute: float, segment: str = "s", profile: str = "u1") -> Change:
    return Change(at(minute), segment, profile, True)


def leave(minute: float, segment: str = "s", profile: str = "u1") -> Change:
    return Change(at(minute), segment, profile, False)


def test_an_event_stops_counting_exactly_when_the_window_passes_it() -> None:
    ev = evaluator({"s": {"performed": "Viewed", "within": "10m"}}, start=T0)
    m = Messages()
    assert ev.feed([m.track(0, "Viewed", user="u1")]) == [enter(0)]
    assert ev.advance(at(9.99)) == []
    assert ev.memberships() == {"s": ["u1"]}
    assert ev.advance(at(20)) == [leave(10)]
    assert ev.memberships() == {"s": []}


def test_every_flip_between_two_calls_is_emitted_at_its_instant() -> None:
    m = Messages()
    m.track(0, "Viewed", user="u1")
    m.track(20, "Viewed", user="u1")
    ev = evaluator({"s": {"performed": "Viewed", "within": "10m"}})
    assert ev.feed(m.rows) == []                       # no clock yet: both are held
    assert ev.advance(at(60)) == [enter(0), leave(10), enter(20), leave(30)]


def test_a_count_that_grows_and_shrinks() -> None:
    m = Messages()
    m.track(0, "Viewed", user="u1")
    m.track(5, "Viewed", user="u1")
    ev = evaluator({"s": {"performed": "Viewed", "within": "10m", "count": {"eq": 1}}})
    ev.feed(m.rows)
    # one view, two views, one again when the first leaves, then none
    assert ev.advance(at(60)) == [enter(0), leave(5), enter(10), leave(15)]


def test_an_event_leaving_as_another_arrives_changes_nothing_at_that_instant() -> None:
    m = Messages()
    m.track(0, "Viewed", user="u1")
    m.track(10, "Viewed", user="u1")
    ev = evaluator({"s": {"performed": "Viewed", "within": "10m"}})
    ev.feed(m.rows)
    assert ev.advance(at(60)) == [enter(0), leave(20)]


def test_a_not_followed_by_deadline_and_the_window_of_a() -> None:
    m = Messages()
    m.track(0, "Added", user="u1")
    m.track(0, "Added", user="u2")
    m.track(20, "Bought", user="u2")                   # in time: never abandoned
    definition = {"s": {"performed": "Added", "within": "2h",
                        "not_followed_by": {"performed": "Bought", "within": "30m"}}}
    ev = evaluator(definition)
    ev.feed(m.rows)
    assert ev.advance(at(29.99)) == []
    assert ev.advance(at(180)) == [enter(30), leave(120)]


def test_a_late_b_ends_an_abandonment_when_it_arrives() -> None:
    m = Messages()
    a = m.track(0, "Added", user="u1")
    b = m.track(20, "Bought", user="u1")
    definition = {"s": {"performed": "Added", "not_followed_by": {"performed": "Bought", "within": "30m"}}}
    ev = evaluator(definition, start=T0)
    ev.feed([a])
    assert ev.advance(at(40)) == [enter(30)]
    assert ev.feed([b]) == [leave(40)]                 # known at 40; counts as if it had come at 20
    assert ev.advance(at(100)) == []


def test_a_late_event_counts_from_its_arrival_until_its_window_passes_it() -> None:
    m = Messages()
    late = m.track(2, "Viewed", user="u1")
    too_late = m.track(-20, "Viewed", user="u2")
    ev = evaluator({"s": {"performed": "Viewed", "within": "10m"}}, start=at(5))
    assert ev.feed([late, too_late]) == [enter(5)]     # u2's event is older than the window: u2 exists, is out
    assert ev.memberships() == {"s": ["u1"]}
    assert ev.profile_ids() == ["u1", "u2"]
    assert ev.advance(at(30)) == [leave(12)]


def test_held_messages_become_visible_at_their_own_time() -> None:
    m = Messages()
    ev = evaluator({"s": {"performed": "Viewed"}}, start=T0)
    assert ev.feed([m.track(5, "Viewed", user="u1")]) == []
    assert ev.memberships() == {"s": []} and ev.profile_ids() == []
    assert ev.next_instant() == at(5)
    assert ev.advance(at(4)) == []
    assert ev.advance(at(10)) == [enter(5)]
    assert ev.next_instant() is None


def test_the_clock_never_goes_back() -> None:
    m = Messages()
    ev = evaluator({"s": {"performed": "Viewed", "within": "10m"}}, start=at(10))
    ev.feed([m.track(5, "Viewed", user="u1")])
    assert ev.clock == at(10)
    assert ev.advance(at(0)) == []
    assert ev.clock == at(10)
    assert ev.next_instant() == at(15)
    assert ev.advance(at(15)) == [leave(15)]


def test_windowed_aggregates_change_when_their_events_leave() -> None:
    m = Messages()
    m.track(0, "Paid", user="u1", amount=6)
    m.track(5, "Paid", user="u1", amount=6)
    ev = evaluator({"s": {"performed": "Paid", "within": "10m", "sum": {"property": "amount", "gte": 12}}})
    ev.feed(m.rows)
    assert ev.advance(at(60)) == [enter(5), leave(10)]


def test_a_followed_by_leaves_with_its_a() -> None:
    m = Messages()
    m.track(0, "Added", user="u1")
    m.track(5, "Bought", user="u1")
    ev = evaluator({"s": {"performed": "Added", "within": "10m", "followed_by": {"performed": "Bought"}}})
    ev.feed(m.rows)
    assert ev.advance(at(60)) == [enter(5), leave(10)]


def test_time_reaches_segments_that_reference_others() -> None:
    m = Messages()
    m.track(0, "Ordered", user="u1", total=600)
    definitions = """
    big: {performed: Ordered, sum: {property: total, gte: 500}}
    at_risk: {all: [{in_segment: big}, {not: {performed: Ordered, within: 90d}}]}
    """
    ev = evaluator(definitions)
    ev.feed(m.rows)
    day = 24 * 60
    assert ev.advance(at(100 * day)) == [enter(0, "big"), enter(90 * day, "at_risk")]


def test_changes_replay_into_the_memberships() -> None:
    m = Messages()
    for minute, user in ((0, "u1"), (3, "u2"), (7, "u1"), (12, "u3"), (15, "u2")):
        m.track(minute, "Viewed", user=user, n=minute)
    definitions = {
        "recent": {"performed": "Viewed", "within": "5m"},
        "busy": {"performed": "Viewed", "within": "10m", "count": {"gte": 2}},
        "quiet": {"not": {"in_segment": "busy"}},
    }
    ev = evaluator(definitions)
    seen: dict[str, set[str]] = {}
    ev.feed(m.rows[:2])
    for minute in range(40):
        fold(ev.advance(at(minute)), seen)
        if minute == 10:
            fold(ev.feed(m.rows[2:]), seen)            # 7 is late by now, 12 and 15 are held
        assert {k: sorted(v) for k, v in seen.items() if v} == {k: v for k, v in ev.memberships().items() if v}


# ---- micros: instants as integers ---------------------------------------------------


def test_micros_is_the_exact_distance_from_the_epoch() -> None:
    """UTC datetimes take a fast path from their fields; every zone, naive and text must agree with it."""
    from datetime import UTC, datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from segmint.segments.realtime.instants import micros

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    zones = st.sampled_from([UTC, ZoneInfo("UTC"), ZoneInfo("Europe/Stockholm"), timezone(timedelta(hours=-5)),
                             timezone(timedelta(0))])

    @settings(max_examples=300, deadline=None)
    @given(moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones))
    def agrees(moment: datetime) -> None:
        expected = (moment - epoch) // timedelta(microseconds=1)
        assert micros(moment) == expected
        assert micros(moment.isoformat()) == expected
        assert micros(moment.astimezone(UTC).replace(tzinfo=None)) == expected  # naive: UTC

    agrees()


def test_instant_is_the_datetime_that_many_microseconds_after_the_epoch() -> None:
    """The compiled build builds it from its fields (civil date of a day number); it must equal the arithmetic."""
    from datetime import UTC, datetime, timedelta

    from hypothesis import example, given, settings
    from hypothesis import strategies as st

    from segmint.segments.realtime.instants import instant

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first, last = -62_135_596_800_000_000, 253_402_300_799_999_999  # datetime.min and .max, in UTC

    @settings(max_examples=500, deadline=None)
    @given(micros=st.one_of(st.integers(first - 10, last + 10), st.integers(-(1 << 62), 1 << 62)))
    @example(micros=0)
    @example(micros=-1)
    @example(micros=first)
    @example(micros=last)
    @example(micros=951_782_400_000_000)  # 2000-02-29, a leap day of a century divisible by 400
    @example(micros=4_107_542_400_000_000 - 1)  # the last microsecond of 2100-02-28 (2100 is no leap year)
    def agrees(micros: int) -> None:
        try:
            expected = epoch + timedelta(microseconds=micros)
        except OverflowError:
            try:
                instant(micros)
            except OverflowError:
                return
            raise AssertionError(f"instant({micros}) is no error, the arithmetic overflows") from None
        found = instant(micros)
        assert found == expected and found.tzinfo is UTC and found.fold == 0
        assert (found.year, found.month, found.day, found.hour, found.minute, found.second, found.microsecond) == (
            expected.year, expected.month, expected.day, expected.hour, expected.minute, expected.second,
            expected.microsecond)

    agrees()
