"""The documented rules of computed traits, on small hand-made streams, in both evaluators.

The property tests hold batch and real time to the reference; these pin
the reference's readings of docs/traits.md that random streams rarely hit
(ties in most_frequent, days counted in whole days, a trend's two periods).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from strategies import ingest, stored_rows

from segmint.config.model import IdentityConfig
from segmint.segments.parse import load_segments

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _track(minutes: float, event: str = "E", user: str = "u1", **properties: Any) -> dict[str, Any]:
    at = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    return {"type": "track", "userId": user, "event": event, "timestamp": at, "properties": properties}


def values(traits: dict[str, Any], messages: list[dict[str, Any]], at: datetime) -> list[dict[str, Any]]:
    """The traits of u1 at ``at`` from batch and from real time (fed in the given order)."""
    from segmint.segments.realtime import RealtimeEvaluator
    from segmint.traits.batch import compute_traits

    numbered = [{**m, "messageId": f"m{i}"} for i, m in enumerate(messages)]
    store = ingest(numbered)
    try:
        loaded = load_segments({}, traits)
        batch = compute_traits(store.connection, loaded.computed.values(), IdentityConfig(), at)
        row = batch[batch.profile_id == "u1"].iloc[0].to_dict()
        row.pop("profile_id")
        evaluator = RealtimeEvaluator(loaded, IdentityConfig())
        evaluator.feed(stored_rows(store))
        evaluator.advance(at)
        live = evaluator.computed_traits("u1")["u1"]
    finally:
        store.close()
    return [{k: (None if v is None or v != v else v) for k, v in row.items()}, live]


def test_most_frequent_ties_go_to_the_latest_occurrence() -> None:
    traits = {"fav": {"most_frequent": "c", "of": "E"}}
    stream = [_track(0, c="a"), _track(1, c="b"), _track(2, c="b"), _track(3, c="a")]
    for got in values(traits, stream, T0 + timedelta(minutes=5)):
        assert got == {"fav": "a"}
    for got in values(traits, stream[:3], T0 + timedelta(minutes=5)):
        assert got == {"fav": "b"}


def test_numbers_are_one_value_whatever_their_spelling() -> None:
    traits = {"fav": {"most_frequent": "c", "of": "E"}, "kinds": {"distinct_count": "c", "of": "E"}}
    stream = [_track(0, c=3), _track(1, c="3"), _track(2, c=3.0), _track(3, c=True), _track(4, c=[3]), _track(5, c=None)]
    for got in values(traits, stream, T0 + timedelta(minutes=10)):
        assert got == {"fav": 3.0, "kinds": 3}


def test_empty_sets_are_missing_and_counts_are_zero() -> None:
    traits = {
        "n": {"count": "Other"}, "total": {"sum": "x", "of": "Other"}, "first_x": {"first": "x", "of": "Other"},
        "since": {"days_since": "Other"}, "kinds": {"distinct_count": "x", "of": "Other"},
    }
    for got in values(traits, [_track(0, x=1)], T0 + timedelta(minutes=1)):
        assert got == {"n": 0, "total": None, "first_x": None, "since": None, "kinds": 0}


@pytest.mark.parametrize(("hours", "days"), [(0, 0), (23.99, 0), (24, 1), (24 * 9.5, 9)])
def test_days_since_counts_whole_days(hours: float, days: int) -> None:
    traits = {"since": {"days_since": "E"}}
    for got in values(traits, [_track(0)], T0 + timedelta(hours=hours)):
        assert got == {"since": days}


def test_trend_compares_this_period_with_the_previous_one() -> None:
    traits = {"trend": {"trend": "count", "of": "E", "period": "10m"},
              "spend": {"trend": "sum", "property": "x", "of": "E", "period": "10m"}}
    # previous period (0, 10]: minutes 1, 2, 10; this period (10, 20]: minute 15
    stream = [_track(1, x=5), _track(2, x=1), _track(10, x=2.5), _track(15, x=4), _track(0, x=100)]
    for got in values(traits, stream, T0 + timedelta(minutes=20)):
        assert got == {"trend": 1 - 3, "spend": 4 - 8.5}


def test_rolling_average_spreads_the_window_over_its_buckets() -> None:
    traits = {"daily": {"rolling_avg": "count", "of": "E", "within": "1h", "per": "15m"}}
    stream = [_track(m) for m in (0, 5, 30, 50)]
    for got in values(traits, stream, T0 + timedelta(minutes=60)):
        assert got == {"daily": 3 / 4}  # minute 0 has left the window (60 - 1h, 60]


def test_computed_trait_in_a_segment_leaves_it_when_time_passes() -> None:
    """A window sliding past an event is a change the real-time evaluator emits at its instant."""
    from segmint.segments.realtime import RealtimeEvaluator

    loaded = load_segments({"busy": {"trait": "recent", "gte": 2}}, {"recent": {"count": "E", "within": "10m"}})
    store = ingest([{**m, "messageId": f"m{i}"} for i, m in enumerate([_track(0), _track(3)])])
    try:
        evaluator = RealtimeEvaluator(loaded, IdentityConfig())
        changes = evaluator.feed(stored_rows(store)) + evaluator.advance(T0 + timedelta(hours=1))
    finally:
        store.close()
    assert [(c.at - T0, c.entered) for c in changes] == [(timedelta(minutes=3), True), (timedelta(minutes=10), False)]
