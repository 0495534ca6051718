"""Computed traits kept current event by event, in the real-time evaluator.

The segment evaluator (``segments/realtime/``) keeps per-identifier logs
and reads a profile's value over the logs of all its identifiers, so
identity merges, re-splits and late events need nothing special. A
computed trait is one more kind of log there:

- :class:`TraitSlot` takes the matching events of one trait into a
  :class:`TraitLog` of an identifier: a mergeable :class:`Summary` for an
  all-history trait (count, exact sum, min, max, first, last, a tally of
  values), or the events inside the trait's horizon (its window; twice the
  period for a trend), older ones pruned;
- :func:`trait_value` reads the value at an instant, and :func:`next_change`
  the next instant time alone changes it (an event leaving the window,
  crossing from this period into the previous one, a day passing for
  ``days_since``);
- :class:`ComputedTraitLeaf` is ``trait: NAME`` in a segment when ``NAME`` is
  a computed trait: the value tested by the condition's operators, waking
  the profile when time alone may flip the *condition*, not at every
  change of the value (``days_since: X`` with ``gte: 60`` wakes once, when
  the 60th day begins, not every day).

Numbers are doubles; sums are exact and rounded once (``state.exact``), so
the order events arrive in never changes a value.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections.abc import Sequence
from typing import Any

from segmint.segments.definition import Comparison
from segmint.segments.realtime.compare import compile_test
from segmint.segments.realtime.leaves import FOREVER, Leaf, _aggregate
from segmint.segments.realtime.state import SEQ_BITS, IdState, Slot, exact, number, stamp, to_float
from segmint.segments.values import lookup
from segmint.traits.definition import DAY_MICROS, NUMBER_KINDS, VALUE_KINDS, TraitDefinition

States = Sequence[IdState]
Scalar = tuple[str, Any]  # ("n", 3.0), ("s", "a"), ("b", True): numbers equal as doubles


def scalar(value: Any) -> Scalar | None:
    """A property value as a comparable scalar; None for missing, lists and objects."""
    if isinstance(value, bool):
        return ("b", value)
    if number(value):
        return ("n", float(value))
    if isinstance(value, str):
        return ("s", value)
    return None


class Summary:
    """A mergeable summary of matching events (``update`` one, ``merge`` another).

    ``first``/``last`` and the tally hold (stamp, value); ties in the tally
    are broken by the latest occurrence.
    """

    __slots__ = ("first", "hi", "last", "lo", "n", "tally", "total")

    def __init__(self) -> None:
        self.n = 0
        self.total = 0  # exact, in 2**-1074 units
        self.lo: float | None = None
        self.hi: float | None = None
        self.first: tuple[int, Any] | None = None
        self.last: tuple[int, Any] | None = None
        self.tally: dict[Any, list[int]] = {}  # value -> [count, latest stamp]

    def update(self, stamp: int, value: Any, kind: str) -> None:
        self.n += 1
        if self.first is None or stamp < self.first[0]:
            self.first = (stamp, value)
        if self.last is None or stamp > self.last[0]:
            self.last = (stamp, value)
        if isinstance(value, float):
            self.total += exact(value)
            self.lo = value if self.lo is None or value < self.lo else self.lo
            self.hi = value if self.hi is None or value > self.hi else self.hi
        if kind in ("most_frequent", "distinct_count"):
            seen = self.tally.get(value)
            if seen is None:
                self.tally[value] = [1, stamp]
            else:
                seen[0] += 1
                seen[1] = max(seen[1], stamp)

    def merge(self, other: Summary) -> None:
        self.n += other.n
        self.total += other.total
        if other.lo is not None and (self.lo is None or other.lo < self.lo):
            self.lo = other.lo
        if other.hi is not None and (self.hi is None or other.hi > self.hi):
            self.hi = other.hi
        if other.first is not None and (self.first is None or other.first[0] < self.first[0]):
            self.first = other.first
        if other.last is not None and (self.last is None or other.last[0] > self.last[0]):
            self.last = other.last
        for value, (count, latest) in other.tally.items():
            seen = self.tally.get(value)
            if seen is None:
                self.tally[value] = [count, latest]
            else:
                seen[0] += count
                seen[1] = max(seen[1], latest)


def _plain(value: Scalar | None) -> Any:
    return None if value is None else value[1]


def summary_value(definition: TraitDefinition, summary: Summary, now: int) -> Any:
    """The value of a (non-series) trait over the matching events ``summary`` holds."""
    kind = definition.kind
    if kind == "count":
        return summary.n
    if kind == "days_since":
        return None if summary.last is None else (now - (summary.last[0] >> SEQ_BITS)) // DAY_MICROS
    if kind == "distinct_count":
        return len(summary.tally)
    if kind in ("sum", "avg", "min", "max"):
        return _aggregate(kind, summary.n, summary.total, summary.lo, summary.hi)
    if summary.n == 0:
        return None
    if kind == "first":
        return _plain(summary.first[1])  # type: ignore[index]
    if kind == "last":
        return _plain(summary.last[1])  # type: ignore[index]
    if kind == "most_frequent":
        best = max(summary.tally.items(), key=lambda item: (item[1][0], item[1][1]))
        return _plain(best[0])
    raise ValueError(f"not a summary kind: {kind}")


class TraitLog:
    """One identifier's matching events for one trait: a summary, or the events in the horizon."""

    __slots__ = ("events", "summary")

    def __init__(self, windowed: bool) -> None:
        self.summary: Summary | None = None if windowed else Summary()
        self.events: list[tuple[int, Any]] = []  # (stamp, value), sorted; only when windowed


def _event_value(path: tuple[str, ...] | None, numeric: bool, properties: Any) -> tuple[bool, Any]:
    """Whether the event counts, and the value it contributes (a double if ``numeric``, else a scalar)."""
    if path is None:
        return True, None
    raw = lookup(properties, path)
    if numeric:
        return (True, float(raw)) if number(raw) else (False, None)
    found = scalar(raw)
    return found is not None, found


class TraitSlot(Slot):
    """Takes the events of one computed trait into a :class:`TraitLog` (a slot of the evaluator's plan).

    Every leaf reading it re-evaluates on a new event (``leaves``, (leaf, None)).
    """

    __slots__ = ("definition", "horizon", "kind", "numeric", "path")

    def __init__(self, index: int, definition: TraitDefinition) -> None:
        super().__init__(index, reads_properties=definition.path is not None)
        self.definition, self.horizon = definition, definition.horizon
        # Read per event: kept here rather than looked up on the definition each time.
        self.kind, self.path = definition.kind, definition.path
        self.numeric = definition.kind in NUMBER_KINDS or definition.measure == "sum"
        assert self.numeric or definition.path is None or definition.kind in VALUE_KINDS, definition.kind

    def take(self, state: IdState, at: int, seq: int, properties: Any, now: int) -> bool:
        counts, value = _event_value(self.path, self.numeric, properties)
        horizon = self.horizon
        if not counts or (horizon and at <= now - horizon):
            return False  # not a matching event, or too old to ever count again
        log = state.logs[self.index]
        if log is None:
            log = state.logs[self.index] = TraitLog(horizon > 0)
        at_seq = stamp(at, seq)
        if not horizon:
            log.summary.update(at_seq, value, self.kind)
            return True
        events = log.events
        insort(events, (at_seq, value))
        cut = stamp(now - horizon + 1, 0)  # events at or before now - horizon are out for good
        if events[0][0] < cut:
            del events[: bisect_right(events, (cut,))]
        return True


def _window(logs: list[TraitLog], low: int, high: int) -> list[tuple[int, Any]]:
    """Events with low < time <= high, from every log, in stamp order."""
    lo, hi = stamp(low + 1, 0), stamp(high + 1, 0)  # the first stamps after low and after high
    out: list[tuple[int, Any]] = []
    for log in logs:
        events = log.events
        out.extend(events[bisect_right(events, (lo,)) : bisect_right(events, (hi,))])
    out.sort(key=lambda e: e[0])
    return out


def _logs(states: States, slot: int) -> list[TraitLog]:
    return [log for state in states if (log := state.logs[slot]) is not None]


def _series(definition: TraitDefinition, events: list[tuple[int, Any]]) -> float:
    if definition.measure == "count":
        return float(len(events))
    return to_float(sum(exact(v) for _, v in events))


def trait_value(definition: TraitDefinition, states: States, slot: int, now: int) -> Any:
    """The trait's value for a profile (its identifiers' ``states``) at ``now``; None: missing."""
    logs = _logs(states, slot)
    horizon = definition.horizon
    if definition.kind == "trend":
        period = definition.horizon // 2
        current = _series(definition, _window(logs, now - period, now))
        previous = _series(definition, _window(logs, now - 2 * period, now - period))
        return current - previous
    if definition.kind == "rolling_avg":
        return _series(definition, _window(logs, now - horizon, now)) / definition.buckets
    if horizon:
        summary = Summary()
        for stamp, value in _window(logs, now - horizon, now):
            summary.update(stamp, value, definition.kind)
    elif len(logs) == 1:
        summary = logs[0].summary  # type: ignore[assignment]
    else:
        summary = Summary()
        for log in logs:
            summary.merge(log.summary)  # type: ignore[arg-type]
    return summary_value(definition, summary, now)


def next_change(definition: TraitDefinition, states: States, slot: int, now: int) -> int | None:
    """The next instant after ``now`` at which time alone may change the value (None: never).

    Conservative: the value may turn out the same, which costs a wake-up.
    """
    logs = _logs(states, slot)
    candidates: list[int] = []
    horizon = definition.horizon
    if horizon:
        inside = _window(logs, now - horizon, now)
        if inside:
            candidates.append((inside[0][0] >> SEQ_BITS) + horizon)  # the oldest leaves the window
        if definition.kind == "trend":
            period = horizon // 2
            recent = _window(logs, now - period, now)
            if recent:
                candidates.append((recent[0][0] >> SEQ_BITS) + period)  # moves into the previous period
        if definition.kind == "days_since" and inside:
            candidates.append(_next_day(inside[-1][0] >> SEQ_BITS, now))
    elif definition.kind == "days_since":
        last = max((log.summary.last[0] for log in logs if log.summary.last is not None), default=None)  # type: ignore[union-attr]
        if last is not None:
            candidates.append(_next_day(last >> SEQ_BITS, now))
    return min(candidates) if candidates else None


def _next_day(last: int, now: int) -> int:
    return last + ((now - last) // DAY_MICROS + 1) * DAY_MICROS


STEPS = 8  # value changes looked through for a flip of the condition; beyond, a wake-up looks again


def _integer_points(comparisons: tuple[Comparison, ...]) -> list[int]:
    """The integers at which an integer value's answer may change (constant between them)."""
    points = set()
    for comparison in comparisons:
        operands = comparison.value if isinstance(comparison.value, tuple) else (comparison.value,)
        for v in operands:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                points.update((math.floor(v), math.floor(v) + 1))
    return sorted(points)


class ComputedTraitLeaf(Leaf):
    """``trait: NAME`` on a computed trait: its value at the instant, tested by the operators.

    Its wake-up is the next instant time alone may flip the test: the value's
    next changes are looked through (``next_change``) until the answer
    differs, up to ``STEPS`` of them (then it wakes there and looks again);
    an all-history ``days_since`` goes straight to the day the answer changes.
    """

    __slots__ = ("comparisons", "definition", "name", "points", "since", "slot", "test", "timed")

    def __init__(self, slot: int, definition: TraitDefinition, comparisons: tuple[Comparison, ...]) -> None:
        self.slot, self.definition, self.comparisons = slot, definition, comparisons
        self.name = definition.name
        self.test = compile_test(comparisons)
        self.timed = definition.timed
        self.since = definition.kind == "days_since" and not definition.horizon
        self.points = _integer_points(comparisons)

    def evaluate(self, states: States, now: int) -> tuple[bool, int | None]:
        value = trait_value(self.definition, states, self.slot, now)
        truth = self.test.holds(value)
        if not self.timed:
            return truth, None
        return truth, self._next_flip(states, now, value, truth)

    def _next_flip(self, states: States, now: int, value: Any, truth: bool) -> int | None:
        definition, slot, test = self.definition, self.slot, self.test
        if self.since:
            if value is None:
                return None  # no event yet: only a new one changes it
            last = max(log.summary.last[0] for log in _logs(states, slot)  # type: ignore[union-attr]
                       if log.summary.last is not None) >> SEQ_BITS
            # The value is (t - last) // DAY at t: whole days, one more each day.
            for days in self.points:
                if days > value and test.holds(days) != truth:
                    at = last + days * DAY_MICROS
                    return at if at < FOREVER else None
            return None
        at: int | None = now
        for _ in range(STEPS):
            at = next_change(definition, states, slot, at)  # type: ignore[arg-type]
            if at is None or test.holds(trait_value(definition, states, slot, at)) != truth:
                return at
        return at

    def explain(self, states: States, now: int) -> dict[str, Any]:
        value = trait_value(self.definition, states, self.slot, now)
        return {"holds": self.test(value), "value": value, "computed": self.definition.kind, "events": []}
