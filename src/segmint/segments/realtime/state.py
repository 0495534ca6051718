"""Per-identifier condition state: small logs updated one event at a time.

Each identifier that is the primary id of a message (its ``userId``, else
its ``anonymousId``) owns an :class:`IdState`: one slot per log the
compiled definitions need, filled on first use. A profile is evaluated by
reading the logs of all its identifiers together, so an identity merge or a
re-split caused by a late link never moves state around.

The logs keep only what a definition can still ask for:

- :class:`SelectorLog`, the events matching one ``performed``/``where``: an
  all-history count (and a few recent events, to explain it), and the event
  times inside the longest ``within`` window, older ones pruned;
- :class:`AggregateLog`, the same for one numeric property: an exact
  all-history sum, min and max, and the values inside the longest window;
- :class:`SequenceLog`, A and B events of one ``followed_by`` /
  ``not_followed_by``, grouped by their ``same`` values; without ``within``
  on A, an A already followed inside its own identifier is settled for good
  and is dropped (or, for ``followed_by``, the whole log latches to true).

Sums are exact (every finite double is an integer multiple of 2**-1074),
so adding and reverting values, and the order they arrive in, never changes
a result: a late event counts exactly as it would have in order.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from typing import Any, Callable

from segmint.segments.values import lookup

FRACTION_BITS = 1074
RECENT = 5  # events kept to explain an all-history condition
Key = tuple[Any, ...]


def exact(value: int | float) -> int:
    """``value`` as an integer count of 2**-1074: sums of these are exact."""
    if type(value) is int:
        return value << FRACTION_BITS
    numerator, denominator = value.as_integer_ratio()  # type: ignore[union-attr]
    return numerator << (FRACTION_BITS + 1 - denominator.bit_length())


def to_float(total: int, count: int = 1) -> float:
    """``total / count`` in 2**-1074 units, correctly rounded (int / int is)."""
    return total / (count << FRACTION_BITS)


def number(value: Any) -> bool:
    """Whether an aggregate takes ``value``: a finite int or float, not a bool."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


def same_key(properties: Any, paths: tuple[tuple[str, ...], ...], seq: int | None) -> Key | None:
    """The ``same`` values of an event as a hashable key, or None if one is missing.

    Keys compare as values.py compares: 3 and 3.0 are one key, True and 1
    are not. A list or object value equals nothing: an A gets a key of its
    own (``seq``), a B (``seq`` None) is dropped.
    """
    parts = []
    for path in paths:
        value = lookup(properties, path)
        if value is None:
            return None
        if isinstance(value, bool):
            parts.append(("b", value))
        elif isinstance(value, (int, float)):
            parts.append(("n", value))
        elif isinstance(value, str):
            parts.append(("s", value))
        elif seq is None:
            return None
        else:
            parts.append(("x", seq))
    return tuple(parts)


class IdState:
    """Everything kept about one identifier: its logs and its latest traits."""

    __slots__ = ("logs", "traits")

    def __init__(self, slots: int) -> None:
        self.logs: list[Any] = [None] * slots
        self.traits: dict[str, tuple[int, int, Any]] = {}  # name -> (time, seq, value)

    def set_trait(self, name: str, at: int, seq: int, value: Any) -> bool:
        current = self.traits.get(name)
        if current is None or (current[0], current[1]) < (at, seq):
            self.traits[name] = (at, seq, value)
            return True
        return False


def _remember(recent: list[tuple[int, int]], at: int, seq: int) -> None:
    if len(recent) < RECENT:
        insort(recent, (at, seq))
    elif (at, seq) > recent[0]:
        insort(recent, (at, seq))
        del recent[0]


# ---- one selector's events ---------------------------------------------------------


class SelectorLog:
    __slots__ = ("n", "recent", "ts", "seqs")

    def __init__(self) -> None:
        self.n = 0
        self.recent: list[tuple[int, int]] = []
        self.ts: list[int] = []
        self.seqs: list[int] = []


class SelectorSlot:
    """Takes the events of one selector into a :class:`SelectorLog`.

    ``horizon`` is the longest ``within`` of the counts reading it (0: no
    window list is kept); ``recent`` whether an all-history count reads it.
    """

    __slots__ = ("index", "horizon", "recent")

    def __init__(self, index: int, horizon: int, recent: bool) -> None:
        self.index, self.horizon, self.recent = index, horizon, recent

    def take(self, state: IdState, at: int, seq: int, properties: Any, now: int) -> bool:
        log = state.logs[self.index]
        if log is None:
            log = state.logs[self.index] = SelectorLog()
        log.n += 1
        if self.recent:
            _remember(log.recent, at, seq)
        horizon = self.horizon
        if horizon:
            cut = now - horizon
            if at > cut:
                ts = log.ts
                if not ts or at >= ts[-1]:
                    ts.append(at)
                    log.seqs.append(seq)
                else:
                    i = bisect_right(ts, at)
                    ts.insert(i, at)
                    log.seqs.insert(i, seq)
                if ts[0] <= cut:
                    drop = bisect_right(ts, cut)
                    del ts[:drop], log.seqs[:drop]
        return True


# ---- one numeric property of one selector's events ---------------------------------


class AggregateLog:
    __slots__ = ("n", "total", "lo", "hi", "recent", "ts", "seqs", "values", "exacts")

    def __init__(self) -> None:
        self.n = 0
        self.total = 0
        self.lo: Any = None
        self.hi: Any = None
        self.recent: list[tuple[int, int]] = []
        self.ts: list[int] = []
        self.seqs: list[int] = []
        self.values: list[int | float] = []
        self.exacts: list[int] = []


class AggregateSlot:
    """Takes the numeric values of ``path`` in one selector's events."""

    __slots__ = ("index", "path", "horizon", "history")

    def __init__(self, index: int, path: tuple[str, ...], horizon: int, history: bool) -> None:
        self.index, self.path, self.horizon, self.history = index, path, horizon, history

    def take(self, state: IdState, at: int, seq: int, properties: Any, now: int) -> bool:
        value = lookup(properties, self.path)
        if not number(value):
            return False
        log = state.logs[self.index]
        if log is None:
            log = state.logs[self.index] = AggregateLog()
        scaled = exact(value)
        if self.history:
            log.n += 1
            log.total += scaled
            if log.lo is None or value < log.lo:
                log.lo = value
            if log.hi is None or value > log.hi:
                log.hi = value
            _remember(log.recent, at, seq)
        horizon = self.horizon
        if horizon:
            cut = now - horizon
            if at <= cut:
                return self.history
            ts = log.ts
            i = len(ts) if not ts or at >= ts[-1] else bisect_right(ts, at)
            ts.insert(i, at)
            log.seqs.insert(i, seq)
            log.values.insert(i, value)
            log.exacts.insert(i, scaled)
            if ts[0] <= cut:
                drop = bisect_right(ts, cut)
                del ts[:drop], log.seqs[:drop], log.values[:drop], log.exacts[:drop]
        return True


# ---- A and B events of one sequence ------------------------------------------------


class SequenceLog:
    __slots__ = ("a", "b", "latched")

    def __init__(self) -> None:
        self.a: dict[Key, list[tuple[int, int]]] = {}
        self.b: dict[Key, list[tuple[int, int]]] = {}
        self.latched = False


def partner(bs: list[tuple[int, int]] | None, at: int, seq: int, gap: int | None) -> tuple[int, int] | None:
    """A B of ``bs`` (sorted) with at <= B.ts <= at + gap and another seq, if any."""
    if not bs:
        return None
    i = bisect_left(bs, (at,))
    for j in (i, i + 1):
        if j >= len(bs):
            return None
        b = bs[j]
        if gap is not None and b[0] > at + gap:
            return None
        if b[1] != seq:
            return b
    return None


def follower_of(as_: list[tuple[int, int]] | None, at: int, seq: int, gap: int | None) -> bool:
    """Whether some A of ``as_`` is followed by a B at (at, seq)."""
    if not as_:
        return False
    low = (at - gap,) if gap is not None else (-math.inf,)
    i = bisect_left(as_, low)
    while i < len(as_) and as_[i][0] <= at:
        if as_[i][1] != seq:
            return True
        i += 1
    return False


class SequenceSlot:
    """One side (A or B) of a sequence condition feeding its :class:`SequenceLog`.

    ``window`` is the ``within`` of A (0: all history), ``gap`` the nested
    ``within`` D (None: unbounded), ``negated`` for ``not_followed_by``.
    """

    __slots__ = ("index", "is_a", "paths", "window", "gap", "negated")

    def __init__(self, index: int, is_a: bool, paths: tuple[tuple[str, ...], ...], window: int,
                 gap: int | None, negated: bool) -> None:
        self.index, self.is_a, self.paths = index, is_a, paths
        self.window, self.gap, self.negated = window, gap, negated

    def take(self, state: IdState, at: int, seq: int, properties: Any, now: int) -> bool:
        window = self.window
        if window and at <= now - window:
            return False  # B.ts >= A.ts > now - window for every A that can still count
        key = same_key(properties, self.paths, seq if self.is_a else None) if self.paths else ()
        if key is None:
            return False
        log = state.logs[self.index]
        if log is None:
            log = state.logs[self.index] = SequenceLog()
        if log.latched:
            return False
        mine, other = (log.a, log.b) if self.is_a else (log.b, log.a)
        events = mine.get(key)
        if events is None:
            events = mine[key] = []
        if window:
            insort(events, (at, seq))
            if events[0][0] <= now - window:
                del events[: bisect_right(events, (now - window, math.inf))]
            return True
        return self._settle(log, events, other.get(key), at, seq)

    def _settle(self, log: SequenceLog, events: list[tuple[int, int]], others: list[tuple[int, int]] | None,
                at: int, seq: int) -> bool:
        """All-history sequences: keep only what a later event or a merge can still change."""
        gap = self.gap
        if self.negated:
            if self.is_a:
                if partner(others, at, seq, gap) is not None:
                    return False  # followed in its own identifier: never abandoned
                insort(events, (at, seq))
            else:
                insort(events, (at, seq))
                if others:
                    low = at - gap if gap is not None else -math.inf
                    others[:] = [a for a in others if not (low <= a[0] <= at and a[1] != seq)]
            return True
        followed = partner(others, at, seq, gap) is not None if self.is_a else follower_of(others, at, seq, gap)
        if followed:
            log.latched = True
            log.a, log.b = {}, {}
            return True
        insort(events, (at, seq))
        if gap is None and len(events) > 2:
            # Unbounded gap: the two earliest A and the two latest B decide every pair.
            if self.is_a:
                del events[2:]
            else:
                del events[:-2]
        return True


Slot = SelectorSlot | AggregateSlot | SequenceSlot
WhereTest = Callable[[Any], bool]
