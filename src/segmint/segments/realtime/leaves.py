"""Leaf conditions (``performed`` and ``trait``) evaluated over a profile's identifiers.

A leaf reads the logs (``state.py``) of every identifier of a profile and
answers two things at an instant ``now``: whether it holds, and the next
instant after ``now`` at which time alone could change that answer (an
event leaving a ``within`` window, a ``not_followed_by`` deadline passing),
or None when only a new message can. Those instants are exact; a few are
conservative (ties of event times), which costs a wake-up, never a miss.

``explain`` says why, naming the events involved.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from typing import Any, Sequence

from segmint.segments.definition import Comparison
from segmint.segments.realtime.state import RECENT, IdState, partner, to_float
from segmint.segments.values import all_hold

States = Sequence[IdState]
Verdict = tuple[bool, int | None]  # holds, next instant time alone may change it
FOREVER = 1 << 62
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def instant(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _events(name: str, pairs: Any) -> list[dict[str, Any]]:
    return [{"seq": seq, "event_time": instant(at).isoformat(), "event": name} for at, seq in pairs]


class CountTest:
    """A count's comparisons, with the largest smaller count that answers differently.

    The answer can only change at ``floor(v)`` or ``floor(v) + 1`` for an
    operand ``v``, so it is constant between those breakpoints; answers are
    tabled up to the last breakpoint (beyond it, they are all the same).
    """

    __slots__ = ("comparisons", "points", "table", "_cache")

    def __init__(self, comparisons: tuple[Comparison, ...]) -> None:
        self.comparisons = comparisons
        points = {0}
        for comparison in comparisons:
            operands = comparison.value if isinstance(comparison.value, tuple) else (comparison.value,)
            for v in operands:
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    points.update(p for p in (math.floor(v), math.floor(v) + 1) if p >= 0)
        self.points = sorted(points)
        self._cache: dict[int, tuple[bool, int]] = {}
        top = self.points[-1]
        self.table = [self._compute(c) for c in range(top + 1)] if top <= 4096 else []

    def at(self, count: int) -> tuple[bool, int]:
        """(holds for ``count``, largest smaller count that does not agree, or -1)."""
        table = self.table
        if table:
            return table[count] if count < len(table) else table[-1]
        key = min(count, self.points[-1])
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._compute(key)
        return hit

    def is_any(self) -> bool | None:
        """True when the test means "at least one", False for "none", None otherwise."""
        zero, one = self.at(0), self.at(1)
        if zero[0] == one[0] or self.at(10 ** 9)[1] != 0:
            return None  # not a single step between 0 and 1
        return one[0]

    def _compute(self, count: int) -> tuple[bool, int]:
        truth = all_hold(count, self.comparisons)
        points = self.points
        i = bisect_right(points, count) - 1  # count lies in [points[i], points[i+1])
        for j in range(i - 1, -1, -1):
            if all_hold(points[j], self.comparisons) != truth:
                return truth, points[j + 1] - 1
        return truth, -1


# ---- counts ------------------------------------------------------------------------


class CountLeaf:
    """``performed`` with ``count`` and no ``within``: all history."""

    __slots__ = ("slot", "event", "test")
    timed = False

    def __init__(self, slot: int, event: str, comparisons: tuple[Comparison, ...]) -> None:
        self.slot, self.event, self.test = slot, event, CountTest(comparisons)

    def evaluate(self, states: States, now: int) -> Verdict:
        n, slot = 0, self.slot
        for state in states:
            log = state.logs[slot]
            if log is not None:
                n += log.n
        return self.test.at(n)[0], None

    def explain(self, states: States, now: int) -> dict[str, Any]:
        logs = [s.logs[self.slot] for s in states if s.logs[self.slot] is not None]
        recent = sorted(p for log in logs for p in log.recent)[-RECENT:]
        n = sum(log.n for log in logs)
        return {"holds": self.test.at(n)[0], "count": n, "events": _events(self.event, recent),
                "note": f"the latest {len(recent)} of {n}" if n > len(recent) else None}


class RecentLeaf:
    """``performed`` with ``within`` and a count meaning "at least one" (or "none").

    The common case, kept cheap: only the latest event time matters.
    """

    __slots__ = ("slot", "event", "window", "wanted")
    timed = True

    def __init__(self, slot: int, event: str, window: int, wanted: bool) -> None:
        self.slot, self.event, self.window, self.wanted = slot, event, window, wanted

    def evaluate(self, states: States, now: int) -> Verdict:
        slot, latest = self.slot, None
        for state in states:
            log = state.logs[slot]
            if log is not None and log.ts and (latest is None or log.ts[-1] > latest):
                latest = log.ts[-1]
        if latest is None or latest <= now - self.window:
            return not self.wanted, None
        return self.wanted, latest + self.window

    def explain(self, states: States, now: int) -> dict[str, Any]:
        return WindowCountLeaf(self.slot, self.event, self.window, ()).explain(states, now) | {
            "holds": self.evaluate(states, now)[0]}


class WindowCountLeaf:
    """``performed`` with ``count`` and ``within``: events in (now - within, now]."""

    __slots__ = ("slot", "event", "window", "test")
    timed = True

    def __init__(self, slot: int, event: str, window: int, comparisons: tuple[Comparison, ...]) -> None:
        self.slot, self.event, self.window, self.test = slot, event, window, CountTest(comparisons)

    def evaluate(self, states: States, now: int) -> Verdict:
        cut, slot = now - self.window, self.slot
        if len(states) == 1:
            log = states[0].logs[slot]
            ts = log.ts if log is not None else ()
            start = bisect_right(ts, cut)
        else:
            parts = [log.ts[bisect_right(log.ts, cut):] for s in states if (log := s.logs[slot]) is not None]
            ts = sorted(parts[0] + parts[1]) if len(parts) == 2 else sorted(t for part in parts for t in part)
            start = 0
        count = len(ts) - start
        truth, smaller = self.test.at(count)
        if smaller < 0:
            return truth, None
        # Events leave oldest first; the (count - smaller)-th to leave makes the count `smaller`.
        return truth, ts[start + count - smaller - 1] + self.window

    def explain(self, states: States, now: int) -> dict[str, Any]:
        cut = now - self.window
        pairs = sorted(
            (at, seq) for s in states if (log := s.logs[self.slot]) is not None
            for at, seq in zip(log.ts, log.seqs) if at > cut
        )
        return {"holds": self.test.at(len(pairs))[0] if self.test.comparisons else bool(pairs),
                "count": len(pairs), "events": _events(self.event, pairs[-20:]),
                "note": f"the latest 20 of {len(pairs)}" if len(pairs) > 20 else None}


# ---- aggregates --------------------------------------------------------------------


def _aggregate(function: str, count: int, total: int, low: Any, high: Any) -> Any:
    if count == 0:
        return None
    if function == "sum":
        return to_float(total)
    if function == "avg":
        return to_float(total, count)
    return low if function == "min" else high


class TotalLeaf:
    """``performed`` with ``sum|avg|min|max`` and no ``within``."""

    __slots__ = ("slot", "event", "function", "comparisons")
    timed = False

    def __init__(self, slot: int, event: str, function: str, comparisons: tuple[Comparison, ...]) -> None:
        self.slot, self.event, self.function, self.comparisons = slot, event, function, comparisons

    def _value(self, states: States) -> tuple[Any, int]:
        count, total, low, high = 0, 0, None, None
        for state in states:
            log = state.logs[self.slot]
            if log is None or not log.n:
                continue
            count += log.n
            total += log.total
            low = log.lo if low is None or log.lo < low else low
            high = log.hi if high is None or log.hi > high else high
        return _aggregate(self.function, count, total, low, high), count

    def evaluate(self, states: States, now: int) -> Verdict:
        return all_hold(self._value(states)[0], self.comparisons), None

    def explain(self, states: States, now: int) -> dict[str, Any]:
        value, count = self._value(states)
        recent = sorted(p for s in states if (log := s.logs[self.slot]) is not None for p in log.recent)[-RECENT:]
        return {"holds": all_hold(value, self.comparisons), self.function: value, "over": count,
                "events": _events(self.event, recent),
                "note": f"the latest {len(recent)} of {count}" if count > len(recent) else None}


class WindowAggregateLeaf:
    """``performed`` with ``sum|avg|min|max`` and ``within``."""

    __slots__ = ("slot", "event", "window", "function", "comparisons")
    timed = True

    def __init__(self, slot: int, event: str, window: int, function: str, comparisons: tuple[Comparison, ...]) -> None:
        self.slot, self.event, self.window = slot, event, window
        self.function, self.comparisons = function, comparisons

    def _entries(self, states: States, now: int) -> tuple[list[int], list[int], list[Any], list[int]]:
        cut = now - self.window
        logs = [log for s in states if (log := s.logs[self.slot]) is not None]
        if len(logs) == 1:
            log = logs[0]
            i = bisect_right(log.ts, cut)
            return log.ts[i:], log.seqs[i:], log.values[i:], log.exacts[i:]
        rows = sorted(
            row for log in logs for row in zip(log.ts, log.seqs, log.values, log.exacts) if row[0] > cut
        )
        if not rows:
            return [], [], [], []
        ts, seqs, values, exacts = (list(column) for column in zip(*rows))
        return ts, seqs, values, exacts

    def evaluate(self, states: States, now: int) -> Verdict:
        ts, _, values, exacts = self._entries(states, now)
        n, function, comparisons = len(ts), self.function, self.comparisons
        if n == 0:
            return all_hold(None, comparisons), None
        if function in ("sum", "avg"):
            total = sum(exacts)
            truth = all_hold(_aggregate(function, n, total, None, None), comparisons)
            for k in range(n):  # events leave oldest first
                total -= exacts[k]
                if all_hold(_aggregate(function, n - k - 1, total, None, None), comparisons) != truth:
                    return truth, ts[k] + self.window
            return truth, None
        pick = min if function == "min" else max
        suffix = list(accumulate(reversed(values), pick))[::-1]  # suffix[k] = pick(values[k:])
        truth = all_hold(suffix[0], comparisons)
        for k in range(n):
            remaining = suffix[k + 1] if k + 1 < n else None
            if all_hold(remaining, comparisons) != truth:
                return truth, ts[k] + self.window
        return truth, None

    def explain(self, states: States, now: int) -> dict[str, Any]:
        ts, seqs, values, exacts = self._entries(states, now)
        low = min(values) if values else None
        high = max(values) if values else None
        value = _aggregate(self.function, len(ts), sum(exacts), low, high)
        return {"holds": all_hold(value, self.comparisons), self.function: value, "over": len(ts),
                "events": _events(self.event, list(zip(ts, seqs))[-20:]),
                "note": f"the latest 20 of {len(ts)}" if len(ts) > 20 else None}


# ---- sequences ---------------------------------------------------------------------


def _gather(states: States, slot: int) -> tuple[bool, dict[Any, list[tuple[int, int]]], dict[Any, list[tuple[int, int]]]]:
    logs = [log for s in states if (log := s.logs[slot]) is not None]
    if not logs:
        return False, {}, {}
    if len(logs) == 1:
        return logs[0].latched, logs[0].a, logs[0].b
    if any(log.latched for log in logs):
        return True, {}, {}
    a: dict[Any, list[tuple[int, int]]] = {}
    b: dict[Any, list[tuple[int, int]]] = {}
    for log in logs:
        for side, into in ((log.a, a), (log.b, b)):
            for key, events in side.items():
                into.setdefault(key, []).extend(events)
    for side in (a, b):
        for events in side.values():
            events.sort()
    return False, a, b


class FollowedByLeaf:
    """An A (in its window) followed by a B within the gap, with the ``same`` values."""

    __slots__ = ("slot", "event", "then", "window", "gap")
    timed = True

    def __init__(self, slot: int, event: str, then: str, window: int, gap: int | None) -> None:
        self.slot, self.event, self.then, self.window, self.gap = slot, event, then, window, gap

    def _latest_pair(self, states: States, now: int) -> tuple[bool, tuple[int, int] | None, tuple[int, int] | None]:
        latched, a, b = _gather(states, self.slot)
        if latched:
            return True, None, None
        low = now - self.window if self.window else None
        best: tuple[int, int] | None = None
        best_b: tuple[int, int] | None = None
        for key, events in a.items():
            bs = b.get(key)
            if not bs:
                continue
            for at, seq in reversed(events):
                if (low is not None and at <= low) or (best is not None and at <= best[0]):
                    break
                found = partner(bs, at, seq, self.gap)
                if found is not None:
                    best, best_b = (at, seq), found
                    break
        return False, best, best_b

    def evaluate(self, states: States, now: int) -> Verdict:
        latched, best, _ = self._latest_pair(states, now)
        if latched:
            return True, None
        if best is None:
            return False, None
        return True, (best[0] + self.window if self.window else None)

    def explain(self, states: States, now: int) -> dict[str, Any]:
        latched, best, best_b = self._latest_pair(states, now)
        if latched:
            return {"holds": True, "events": [], "note": "an A followed by a B within one identifier (kept as a fact)"}
        events = _events(self.event, [best]) + _events(self.then, [best_b]) if best and best_b else []
        return {"holds": best is not None, "events": events}


class NotFollowedByLeaf:
    """An A (in its window) whose deadline A.ts + gap has passed with no B."""

    __slots__ = ("slot", "event", "window", "gap")
    timed = True

    def __init__(self, slot: int, event: str, window: int, gap: int) -> None:
        self.slot, self.event, self.window, self.gap = slot, event, window, gap

    def _open(self, states: States, now: int) -> list[tuple[int, int, int, int]]:
        """(abandoned from, until, A.ts, A.seq) for each A not followed so far."""
        _, a, b = _gather(states, self.slot)
        low = now - self.window if self.window else None
        gap, window = self.gap, self.window
        out = []
        for key, events in a.items():
            bs = b.get(key)
            start = bisect_right(events, (low, math.inf)) if low is not None else 0
            for at, seq in events[start:]:
                if partner(bs, at, seq, gap) is None:
                    until = at + window if window else FOREVER
                    if at + gap < until:
                        out.append((at + gap, until, at, seq))
        return out

    def evaluate(self, states: States, now: int) -> Verdict:
        spans = self._open(states, now)
        if not spans:
            return False, None
        truth = any(start <= now < until for start, until, _, _ in spans)
        if not truth:
            return False, min((start for start, _, _, _ in spans if start > now), default=None)
        reach = now
        for start, until, _, _ in sorted(spans):
            if start <= reach < until:
                reach = until
        return True, (None if reach >= FOREVER else reach)

    def explain(self, states: States, now: int) -> dict[str, Any]:
        spans = self._open(states, now)
        abandoned = sorted((at, seq) for start, until, at, seq in spans if start <= now < until)
        pending = sorted((at, seq) for start, _, at, seq in spans if start > now)
        return {"holds": bool(abandoned), "events": _events(self.event, abandoned[-20:]),
                "pending": [{**e, "deadline": instant(e_at + self.gap).isoformat()}
                            for e, (e_at, _) in zip(_events(self.event, pending), pending)]}


# ---- traits ------------------------------------------------------------------------


class TraitLeaf:
    """A trait's latest ``identify`` value (by time, then seq) across the identifiers."""

    __slots__ = ("name", "comparisons")
    timed = False
    slot = -1

    def __init__(self, name: str, comparisons: tuple[Comparison, ...]) -> None:
        self.name, self.comparisons = name, comparisons

    def value(self, states: States) -> tuple[Any, tuple[int, int] | None]:
        best: tuple[int, int, Any] | None = None
        for state in states:
            found = state.traits.get(self.name)
            if found is not None and (best is None or (found[0], found[1]) > (best[0], best[1])):
                best = found
        return (best[2], (best[0], best[1])) if best is not None else (None, None)

    def evaluate(self, states: States, now: int) -> Verdict:
        return all_hold(self.value(states)[0], self.comparisons), None

    def explain(self, states: States, now: int) -> dict[str, Any]:
        value, source = self.value(states)
        return {"holds": all_hold(value, self.comparisons), "value": value,
                "events": _events("identify", [source]) if source else []}


Leaf = CountLeaf | RecentLeaf | WindowCountLeaf | TotalLeaf | WindowAggregateLeaf | FollowedByLeaf | NotFollowedByLeaf | TraitLeaf
