"""A segment reading a computed trait wakes when its condition may flip, not at every change of the value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from segmint.config.model import IdentityConfig
from segmint.segments.parse import load_segments
from segmint.segments.realtime import RealtimeEvaluator

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _row(seq: int, minute: float, event: str = "E") -> dict[str, Any]:
    return {"seq": seq, "type": "track", "event": event, "user_id": "u1", "anonymous_id": None,
            "previous_id": None, "event_time": T0 + timedelta(minutes=minute), "properties": "{}",
            "traits": None, "context": None}


def _evaluator(segment: dict[str, Any], traits: dict[str, Any], minutes: list[float]) -> RealtimeEvaluator:
    loaded = load_segments({"s": segment}, traits)
    assert not loaded.errors, loaded.errors
    evaluator = RealtimeEvaluator(loaded, IdentityConfig())
    evaluator.feed([_row(i + 1, m) for i, m in enumerate(minutes)])
    evaluator.advance(T0 + timedelta(minutes=max(minutes)))
    return evaluator


def test_days_since_wakes_on_the_day_the_answer_changes() -> None:
    evaluator = _evaluator({"trait": "since", "gte": 60}, {"since": {"days_since": "E"}}, [0])
    assert evaluator.next_instant() == T0 + timedelta(days=60)  # not every day on the way
    changes = evaluator.advance(T0 + timedelta(days=61))
    assert [(c.at, c.entered) for c in changes] == [(T0 + timedelta(days=60), True)]
    assert evaluator.next_instant() is None  # true for good


def test_days_since_between_wakes_to_enter_and_to_leave() -> None:
    evaluator = _evaluator({"trait": "since", "between": [2, 3.5]}, {"since": {"days_since": "E"}}, [0])
    assert evaluator.next_instant() == T0 + timedelta(days=2)
    evaluator.advance(T0 + timedelta(days=2))
    assert evaluator.next_instant() == T0 + timedelta(days=4)  # 3.5 still holds for 3 whole days


def test_a_windowed_count_wakes_when_the_count_falls_below_the_bound() -> None:
    # Four events in the window: the count falls at minutes 10, 11 and 12, below 2 only at 12.
    evaluator = _evaluator({"trait": "recent", "gte": 2}, {"recent": {"count": "E", "within": "10m"}}, [0, 1, 2, 3])
    evaluator.advance(T0 + timedelta(minutes=10))  # (an earlier wake-up may remain; it finds nothing due)
    assert evaluator.next_instant() == T0 + timedelta(minutes=12)  # not 11: the count 2 still holds
    changes = evaluator.advance(T0 + timedelta(hours=1))
    assert [(c.at, c.entered) for c in changes] == [(T0 + timedelta(minutes=12), False)]
