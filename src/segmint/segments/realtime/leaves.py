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
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from segmint.segments.definition import Comparison
from segmint.segments.realtime.compare import Test, compile_test
from segmint.segments.realtime.instants import instant
from segmint.segments.realtime.state import (
    RECENT,
    SEQ_BITS,
    IdState,
    after,
    later_than,
    partner,
    stamp,
    to_float,
    unstamp,
)
from segmint.segments.values import all_hold

States = Sequence[IdState]
Verdict = tuple[bool, int | None]  # holds, next instant time alone may change it
FOREVER = 1 << 62
_NO_TIMES = array("q")  # the window of an identifier without the log: never filled


def _events(name: str, pairs: Any) -> list[dict[str, Any]]:
    return [{"seq": seq, "event_time": instant(at).isoformat(), "event": name} for at, seq in pairs]


class CountTest:
    """A count's comparisons, with the largest smaller count that answers differently.

    The answer can only change at ``floor(v)`` or ``floor(v) + 1`` for an
    operand ``v``, so it is constant between those breakpoints; answers are
    tabled up to the last breakpoint (beyond it, they are all the same).
    """

    __slots__ = ("_cache", "comparisons", "points", "table")

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

    def upward(self) -> bool:
        """Whether a larger count never turns a true answer false (``gte``, ``gt``, ...)."""
        table = self.table
        return bool(table) and all(not table[c][0] or table[c + 1][0] for c in range(len(table) - 1))

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


class Leaf:
    """A leaf condition over a profile's identifiers (``states``) at an instant ``now``.

    ``evaluate`` gives (holds, the next instant time alone may change that, or
    None); ``explain`` says why. ``timed``: whether time alone can change it.
    The kinds of leaf subclass this one, so the compiled evaluator calls
    ``evaluate`` directly (leaves.pxd).
    """

    __slots__ = ()
    timed = False

    def evaluate(self, states: States, now: int) -> Verdict:
        raise NotImplementedError

    def explain(self, states: States, now: int) -> dict[str, Any]:
        raise NotImplementedError


class CountLeaf(Leaf):
    """``performed`` with ``count`` and no ``within``: all history."""

    __slots__ = ("event", "slot", "test")
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
        recent = [unstamp(v) for v in sorted(v for log in logs for v in log.recent)[-RECENT:]]
        n = sum(log.n for log in logs)
        return {"holds": self.test.at(n)[0], "count": n, "events": _events(self.event, recent),
                "note": f"the latest {len(recent)} of {n}" if n > len(recent) else None}


def _largest(parts: list[tuple[Any, int]], k: int) -> int:
    """The k-th largest value of several sorted sequences, each read from its start index."""
    if len(parts) == 1:
        values, _ = parts[0]
        return values[len(values) - k]
    if k > 16:
        return sorted(v for values, start in parts for v in values[start:])[-k]
    ends = [len(values) for values, _ in parts]
    top = 0
    for _ in range(k):  # merge from the top, k steps
        best = -1
        for i, (values, start) in enumerate(parts):
            if ends[i] > start and (best < 0 or values[ends[i] - 1] > top):
                best, top = i, values[ends[i] - 1]
        ends[best] -= 1
    return top


class RecentLeaf(Leaf):
    """``performed`` with ``within`` and a count meaning "at least one" (or "none").

    The common case, kept cheap: only the latest event time matters.
    """

    __slots__ = ("event", "slot", "wanted", "window")
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


class WindowCountLeaf(Leaf):
    """``performed`` with ``count`` and ``within``: events in (now - within, now]."""

    __slots__ = ("event", "slot", "test", "window")
    timed = True

    def __init__(self, slot: int, event: str, window: int, comparisons: tuple[Comparison, ...]) -> None:
        self.slot, self.event, self.window, self.test = slot, event, window, CountTest(comparisons)

    def evaluate(self, states: States, now: int) -> Verdict:
        cut, slot = now - self.window, self.slot
        if len(states) == 1:
            log = states[0].logs[slot]
            ts = log.ts if log is not None else _NO_TIMES
            count = len(ts) - after(ts, cut)
            truth, smaller = self.test.at(count)
            if smaller < 0:
                return truth, None
            # Events leave oldest first: when the one with `smaller` events after it leaves,
            # the count becomes `smaller`.
            return truth, ts[len(ts) - smaller - 1] + self.window
        parts = []
        for state in states:
            log = state.logs[slot]
            if log is not None and later_than(log.ts, cut):
                parts.append((log.ts, after(log.ts, cut)))
        count = 0  # (loops, not generator expressions, in the compiled methods: cpdef has no closures)
        for ts, start in parts:
            count += len(ts) - start
        truth, smaller = self.test.at(count)
        if smaller < 0:
            return truth, None
        return truth, _largest(parts, smaller + 1) + self.window

    def explain(self, states: States, now: int) -> dict[str, Any]:
        cut = now - self.window
        pairs = sorted((at, seq) for s in states if (log := s.logs[self.slot]) is not None
                       for at, seq in zip(log.ts, log.seqs) if at > cut)
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


class TotalLeaf(Leaf):
    """``performed`` with ``sum|avg|min|max`` and no ``within``."""

    __slots__ = ("comparisons", "event", "function", "slot", "test")
    timed = False

    def __init__(self, slot: int, event: str, function: str, comparisons: tuple[Comparison, ...]) -> None:
        self.slot, self.event, self.function, self.comparisons = slot, event, function, comparisons
        self.test = compile_test(comparisons)

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
        return self.test.holds(self._value(states)[0]), None

    def explain(self, states: States, now: int) -> dict[str, Any]:
        value, count = self._value(states)
        logs = [s.logs[self.slot] for s in states if s.logs[self.slot] is not None]
        recent = [unstamp(v) for v in sorted(v for log in logs for v in log.recent)[-RECENT:]]
        return {"holds": self.test(value), self.function: value, "over": count,
                "events": _events(self.event, recent),
                "note": f"the latest {len(recent)} of {count}" if count > len(recent) else None}


class WindowAggregateLeaf(Leaf):
    """``performed`` with ``sum|avg|min|max`` and ``within``."""

    __slots__ = ("comparisons", "event", "function", "slot", "test", "window")
    timed = True

    def __init__(self, slot: int, event: str, window: int, function: str, comparisons: tuple[Comparison, ...]) -> None:
        self.slot, self.event, self.window = slot, event, window
        self.function, self.comparisons = function, comparisons
        self.test = compile_test(comparisons)

    def _entries(self, states: States, now: int) -> tuple[list[int], list[int], list[Any], list[int]]:
        """Times, seqs, values and exact values of the events in the window, oldest first."""
        cut, slot = now - self.window, self.slot
        logs = [log for s in states if (log := s.logs[slot]) is not None and later_than(log.ts, cut)]
        if not logs:
            return [], [], [], []
        if len(logs) == 1:
            log = logs[0]
            i = after(log.ts, cut)
            return log.ts[i:], log.seqs[i:], log.values[i:], log.exacts[i:]
        rows = sorted(row for log in logs for row in zip(log.ts, log.seqs, log.values, log.exacts) if row[0] > cut)
        ts, seqs, values, exacts = (list(column) for column in zip(*rows))
        return ts, seqs, values, exacts

    def evaluate(self, states: States, now: int) -> Verdict:
        cut, slot = now - self.window, self.slot
        test: Test = self.test
        inside = None  # the one log with events in the window, if only one has
        for state in states:
            log = state.logs[slot]
            if log is not None and later_than(log.ts, cut):
                if inside is not None:
                    inside = False  # several: merged below
                    break
                inside = log
        if inside is None:
            return test.holds(None), None
        if inside is not False:
            # The usual case, also for most profiles of several identifiers (their other ids'
            # events have left the window): read the log in place from the first event inside,
            # without copying four columns (this leaf's CPU time in the benchmark: -30 %).
            ts, values, exacts = inside.ts, inside.values, inside.exacts
            start = after(ts, cut)
        else:
            ts, _, values, exacts = self._entries(states, now)
            start = 0
        n, window = len(ts), self.window
        if self.function == "sum":
            total = sum(exacts[start:]) if start else sum(exacts)
            truth = test.holds(to_float(total))
            for k in range(start, n - 1):  # events leave oldest first
                total -= exacts[k]
                if test.holds(to_float(total)) != truth:
                    return truth, ts[k] + window
            return truth, (ts[n - 1] + window if test.holds(None) != truth else None)
        if self.function == "avg":
            total = sum(exacts[start:]) if start else sum(exacts)
            truth = test.holds(to_float(total, n - start))
            for k in range(start, n - 1):
                total -= exacts[k]
                if test.holds(to_float(total, n - k - 1)) != truth:
                    return truth, ts[k] + window
            return truth, (ts[n - 1] + window if test.holds(None) != truth else None)
        pick = min if self.function == "min" else max
        # suffix[k] = pick(values[start + k:]); the value once the events before start + k left
        suffix = list(accumulate(reversed(values[start:] if start else values), pick))
        suffix.reverse()
        truth = test.holds(suffix[0])
        for k in range(1, n - start):
            if test.holds(suffix[k]) != truth:
                return truth, ts[start + k - 1] + window
        return truth, (ts[n - 1] + window if test.holds(None) != truth else None)

    def explain(self, states: States, now: int) -> dict[str, Any]:
        ts, seqs, values, exacts = self._entries(states, now)
        low = min(values) if values else None
        high = max(values) if values else None
        value = _aggregate(self.function, len(ts), sum(exacts), low, high)
        return {"holds": self.test(value), self.function: value, "over": len(ts),
                "events": _events(self.event, list(zip(ts, seqs))[-20:]),
                "note": f"the latest 20 of {len(ts)}" if len(ts) > 20 else None}


# ---- sequences ---------------------------------------------------------------------


Groups = dict[Any, list[int]]


def _gather(states: States, slot: int) -> tuple[bool, Groups, Groups]:
    """A sequence's A and B stamps over a profile's identifiers (latched: settled true)."""
    if len(states) == 1:
        log = states[0].logs[slot]
        return (log.latched, log.a, log.b) if log is not None else _NOTHING
    logs = []
    for state in states:
        log = state.logs[slot]
        if log is not None:
            if log.latched:
                return True, {}, {}
            if log.a or log.b:
                logs.append(log)
    if len(logs) <= 1:
        return (False, logs[0].a, logs[0].b) if logs else _NOTHING
    a: Groups = {}
    b: Groups = {}
    for log in logs:
        for side, into in ((log.a, a), (log.b, b)):
            for key, events in side.items():
                into.setdefault(key, []).extend(events)
    for side in (a, b):
        for events in side.values():
            events.sort()
    return False, a, b


_NOTHING: tuple[bool, Groups, Groups] = (False, {}, {})


class FollowedByLeaf(Leaf):
    """An A (in its window) followed by a B within the gap, with the ``same`` values."""

    __slots__ = ("event", "gap", "slot", "then", "window")
    timed = True

    def __init__(self, slot: int, event: str, then: str, window: int, gap: int | None) -> None:
        self.slot, self.event, self.then, self.window, self.gap = slot, event, then, window, gap

    def _latest_pair(self, states: States, now: int) -> tuple[bool, int | None, int | None]:
        """(latched, the latest A in the window that is followed, its B) as stamps."""
        latched, a, b = _gather(states, self.slot)
        if latched:
            return True, None, None
        first = stamp(now - self.window + 1, 0) if self.window else None
        best: int | None = None
        best_b: int | None = None
        for key, events in a.items():
            bs = b.get(key)
            if not bs:
                continue
            for value in reversed(events):
                if (first is not None and value < first) or (best is not None and value <= best):
                    break
                found = partner(bs, value, self.gap)
                if found is not None:
                    best, best_b = value, found
                    break
        return False, best, best_b

    def evaluate(self, states: States, now: int) -> Verdict:
        latched, best, _ = self._latest_pair(states, now)
        if latched:
            return True, None
        if best is None:
            return False, None
        return True, ((best >> SEQ_BITS) + self.window if self.window else None)

    def explain(self, states: States, now: int) -> dict[str, Any]:
        latched, best, best_b = self._latest_pair(states, now)
        if latched:
            return {"holds": True, "events": [], "note": "an A followed by a B within one identifier (kept as a fact)"}
        if best is None or best_b is None:
            return {"holds": False, "events": []}
        return {"holds": True, "events": _events(self.event, [unstamp(best)]) + _events(self.then, [unstamp(best_b)])}


class NotFollowedByLeaf(Leaf):
    """An A (in its window) whose deadline A.ts + gap has passed with no B."""

    __slots__ = ("event", "gap", "slot", "window")
    timed = True

    def __init__(self, slot: int, event: str, window: int, gap: int) -> None:
        self.slot, self.event, self.window, self.gap = slot, event, window, gap

    def _open(self, states: States, now: int) -> list[tuple[int, int, int]]:
        """(abandoned from, until, A's stamp) for each A in the window not followed so far."""
        _, a, b = _gather(states, self.slot)
        first = stamp(now - self.window + 1, 0) if self.window else None
        gap, window = self.gap, self.window
        out = []
        for key, events in a.items():
            bs = b.get(key)
            start = bisect_left(events, first) if first is not None else 0
            for value in events[start:] if start else events:
                if bs is None or partner(bs, value, gap) is None:
                    at = value >> SEQ_BITS
                    until = at + window if window else FOREVER
                    if at + gap < until:
                        out.append((at + gap, until, value))
        return out

    def evaluate(self, states: States, now: int) -> Verdict:
        spans = self._open(states, now)
        if not spans:
            return False, None
        soonest = None  # the earliest deadline still to come
        for start, until, _ in spans:
            if start <= now < until:
                break
            if start > now and (soonest is None or start < soonest):
                soonest = start
        else:
            return False, soonest
        reach = now
        for start, until, _ in sorted(spans):
            if start <= reach < until:
                reach = until
        return True, (None if reach >= FOREVER else reach)

    def explain(self, states: States, now: int) -> dict[str, Any]:
        spans = self._open(states, now)
        abandoned = sorted(unstamp(v) for start, until, v in spans if start <= now < until)
        pending = sorted(unstamp(v) for start, _, v in spans if start > now)
        return {"holds": bool(abandoned), "events": _events(self.event, abandoned[-20:]),
                "pending": [{**event, "deadline": instant(at + self.gap).isoformat()}
                            for event, (at, _) in zip(_events(self.event, pending), pending)]}


# ---- traits ------------------------------------------------------------------------


class TraitLeaf(Leaf):
    """A trait's latest ``identify`` value (by time, then seq) across the identifiers."""

    __slots__ = ("comparisons", "name", "test")
    timed = False
    slot = -1

    def __init__(self, name: str, comparisons: tuple[Comparison, ...]) -> None:
        self.name, self.comparisons, self.test = name, comparisons, compile_test(comparisons)

    def value(self, states: States) -> tuple[Any, tuple[int, int] | None]:
        best: tuple[int, int, Any] | None = None
        for state in states:
            found = state.traits.get(self.name)
            if found is not None and (best is None or (found[0], found[1]) > (best[0], best[1])):
                best = found
        return (best[2], (best[0], best[1])) if best is not None else (None, None)

    def evaluate(self, states: States, now: int) -> Verdict:
        return self.test.holds(self.value(states)[0]), None

    def explain(self, states: States, now: int) -> dict[str, Any]:
        value, source = self.value(states)
        return {"holds": self.test(value), "value": value,
                "events": _events("identify", [source]) if source else []}

