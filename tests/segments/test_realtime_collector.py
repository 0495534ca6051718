"""The garbage collector policy of replay and serve, and the fact it rests on.

``realtime.collector`` freezes the evaluator's state out of the cyclic
collector's walks. That is free of leaks only because the evaluator makes no
cyclic garbage: every object it drops is freed by reference counting.
"""

from __future__ import annotations

import gc
import random

from segmint.config.model import IdentityConfig
from segmint.segments.parse import load_segments
from segmint.segments.realtime import RealtimeEvaluator
from segmint.segments.realtime.collector import YOUNG, CollectorPolicy, freeze_survivors

from test_realtime_kit import Messages, at

# Every condition kind, and computed traits of every family.
DEFINITIONS = {
    "recent": {"performed": "View", "within": "10m"},
    "counted": {"performed": "View", "where": {"kind": "a"}, "count": {"between": [2, 3]}, "within": "1h"},
    "ever": {"performed": "View", "count": {"gte": 3}},
    "spend": {"performed": "Buy", "sum": {"property": "total", "gte": 10}, "within": "30m"},
    "lifetime": {"performed": "Buy", "avg": {"property": "total", "gt": 4}},
    "then": {"performed": "View", "followed_by": {"performed": "Buy", "within": "5m", "same": ["kind"]}},
    "abandon": {"performed": "Add", "within": "1h", "not_followed_by": {"performed": "Buy", "within": "5m"}},
    "old": {"trait": "age", "gte": 30},
    "both": {"all": [{"in_segment": "recent"}, {"not": {"in_segment": "ever"}}]},
    "busy": {"trait": "views_10m", "gte": 2},
    "lapsed": {"trait": "since_buy", "gte": 1},
}
TRAITS = {
    "views_10m": {"count": "View", "within": "10m"},
    "since_buy": {"days_since": "Buy"},
    "favourite": {"most_frequent": "kind", "of": "View", "within": "1h"},
    "trend": {"trend": "count", "of": "Buy", "period": "20m"},
}


def _stream(seed: int) -> list[dict]:
    rng = random.Random(seed)
    messages = Messages()
    for i in range(600):
        user = f"u{rng.randrange(15)}"
        anon = f"a{rng.randrange(30)}"
        minute = i * 0.5 + (rng.random() * 20 if rng.random() < 0.1 else 0)  # some late
        roll = rng.random()
        if roll < 0.08:
            messages.identify(minute, user=user, anon=anon, age=rng.randrange(20, 40))
        elif roll < 0.1:
            messages.alias(minute, user, anon)
        else:
            event = rng.choice(["View", "Buy", "Add"])
            who = {"user": user} if rng.random() < 0.5 else {"anon": anon}
            messages.track(minute, event, kind=rng.choice("ab"), total=rng.choice([1, 2.5, 7, None]), **who)
    rows = messages.rows
    rng.shuffle(rows[100:200])  # out of order
    return rows


def test_the_evaluator_makes_no_cyclic_garbage() -> None:
    loaded = load_segments(DEFINITIONS, TRAITS)
    assert not loaded.errors, loaded.errors
    rows = _stream(7)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        evaluator = RealtimeEvaluator(loaded, IdentityConfig())
        changes = 0
        for i in range(0, len(rows), 25):
            batch = rows[i:i + 25]
            changes += len(evaluator.feed(batch))
            changes += len(evaluator.advance(max(r["event_time"] for r in batch)))
        changes += len(evaluator.advance(at(24 * 60 * 3)))
        restored = RealtimeEvaluator.restore(evaluator.snapshot(), loaded, IdentityConfig())
        assert changes > 100 and restored.memberships() == evaluator.memberships()
        assert gc.collect() == 0, "the evaluator made cyclic garbage while running"
        del evaluator, restored
        assert gc.collect() == 0, "the evaluator's state holds reference cycles"
    finally:
        if enabled:
            gc.enable()


def _frozen(thing: object) -> bool:
    """Whether ``thing`` is in the permanent generation (``gc.get_objects`` lists the others)."""
    return not any(o is thing for o in gc.get_objects())


def test_the_policy_freezes_as_it_goes_and_undoes_what_it_changed() -> None:
    threshold = gc.get_threshold()
    gc.unfreeze()  # (an in-process server of another test may have frozen the heap)
    try:
        with CollectorPolicy(every=10) as policy:
            assert gc.get_threshold()[0] >= YOUNG
            made = [[1], [2]]
            policy.fed(9)
            assert not _frozen(made)
            policy.fed(1)
            assert _frozen(made)
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold
        assert not _frozen(made)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_the_policy_leaves_what_the_caller_froze_frozen() -> None:
    threshold = gc.get_threshold()
    try:
        gc.freeze()
        with CollectorPolicy():
            pass
        assert gc.get_freeze_count() > 0 and gc.get_threshold() == threshold
        freeze_survivors()
        assert gc.get_threshold()[0] >= YOUNG
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_the_server_freezes_its_state_after_start_up_and_after_each_snapshot(tmp_path, monkeypatch) -> None:
    import segmint.server.live_segments as live
    from segmint.clock import FixedClock
    from segmint.config.model import Config
    from segmint.store.store import Store

    calls: list[str] = []
    monkeypatch.setattr(live, "freeze_survivors", lambda: calls.append("freeze"))
    with Store(tmp_path / "s.duckdb") as store:
        segments = live.LiveSegments(store, Config(segments={"s": {"performed": "E"}}), FixedClock(at(0)))
        assert calls == ["freeze"]
        segments.snapshot()
        assert calls == ["freeze", "freeze"]
