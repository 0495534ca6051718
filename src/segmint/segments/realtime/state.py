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
  and is dropped (or, for ``followed_by``, the whole log latches to true),
  and with no gap only the two earliest A and two latest B can matter.

Numbers are doubles, as in every JSON engine. Sums are exact (every finite
double is an integer multiple of 2**-1074) and rounded once when read, so
adding and reverting values, and the order they arrive in, never changes a
result: a late event counts exactly as it would have in order.

Representation, chosen for speed and for the garbage collector: window
times and seqs are ``array('q')`` (an array is not walked element by
element as a list is), sequence events are *stamps* (``time << 64 | seq``,
one sortable int), and a log never filled (say, a window no condition asks
for) is a shared empty tuple.
"""

from __future__ import annotations

import math
import sys
from array import array
from bisect import bisect_left, bisect_right, insort
from typing import Any

from segmint.segments.values import lookup

try:
    import cython

    COMPILED = cython.compiled  # a constant when Cython compiles this module: True
except ImportError:  # Cython is only needed to build the compiled core
    COMPILED = False

FRACTION_BITS = 1074
RECENT = 5  # events kept to explain an all-history condition
Key = Any  # a same key: a string, a double, a tagged tuple, or a tuple of those
# The leaves a slot's events can change: (leaf, the value a new event cannot change, or None).
Reads = tuple[tuple[int, "bool | None"], ...]


def exact(value: float) -> int:
    """``value``, as a double, in integer units of 2**-1074: sums of these are exact."""
    if COMPILED:
        # libc's frexp (state.pxd): the 53-bit significand as a C integer, one Python int made
        # and shifted (as_integer_ratio makes two and a tuple: 3,000 instructions a call).
        as_double = value
        fraction = frexp(as_double, cython.address(exponent))
        whole = int(fraction * 9007199254740992.0)  # the significand (* 2**53): an integer, exactly
        shift = exponent + 1021  # value = whole * 2**(exponent - 53), in units of 2**-1074
        return whole << shift if shift >= 0 else whole >> -shift
    numerator, denominator = float(value).as_integer_ratio()
    return numerator << (FRACTION_BITS + 1 - denominator.bit_length())


_UNIT = 1 << FRACTION_BITS


def to_float(total: int, count: int = 1) -> float:
    """``total / count`` in 2**-1074 units, correctly rounded (int / int is); beyond doubles, infinite."""
    try:
        return total / (_UNIT if count == 1 else count << FRACTION_BITS)
    except OverflowError:  # as IEEE addition would say
        return math.inf if total > 0 else -math.inf


_DOUBLE_MAX = int(sys.float_info.max)


def number(value: Any) -> bool:
    """Whether an aggregate takes ``value``: a number (not a bool) that is a finite double."""
    kind = type(value)
    if kind is float:
        return math.isfinite(value)
    if kind is int:
        return -_DOUBLE_MAX <= value <= _DOUBLE_MAX
    return False


def _same_part(value: Any, seq: int | None) -> Any:
    """One ``same`` value as a key part: a string itself, a number as a double, a boolean tagged."""
    kind = value.__class__
    if kind is str or kind is float:
        return value
    if kind is int:
        return float(value)  # numbers are equal as doubles
    if kind is bool:
        return ("b", value)  # never equal to a number (True == 1.0 in Python)
    if value is None or seq is None:
        return None
    return ("x", seq)


def same_key(properties: Any, paths: tuple[tuple[str, ...], ...], seq: int | None) -> Key | None:
    """The ``same`` values of an event as a hashable key, or None if one is missing.

    Keys compare as values.py compares: 3 and 3.0 are one key, True and 1
    are not. A list or object value equals nothing: an A gets a key of its
    own (``seq``), a B (``seq`` None) is dropped.

    With one path (the usual ``same: [cart_id]``) the key is the part itself:
    a string keeps its hash, where a tuple is hashed anew at every lookup
    (the sequence leaves look keys up at every evaluation).
    """
    if len(paths) == 1:
        return _same_part(lookup(properties, paths[0]), seq)
    parts = []
    for path in paths:
        part = _same_part(lookup(properties, path), seq)
        if part is None:
            return None
        parts.append(part)
    return tuple(parts)


# ---- stamps: an event's (time, seq) as one int ----------------------------------------

SEQ_BITS = 64
_NO_LIST: tuple[()] = ()  # stands in for a list a slot never fills (and costs the GC nothing)


def stamp(at: int, seq: int) -> int:
    """An event's time and seq as one sortable int: (time, seq) order, one list instead of two.

    ``stamp(t, 0)`` is the first stamp at time ``t``.
    """
    if COMPILED and seq >= 0:
        # The 128-bit number at * 2**64 + seq, made from its 16 bytes (little-endian, two's
        # complement) by CPython at once: the shift and the sum make three ints on the way.
        low, high = seq, at  # as unsigned 64-bit halves (state.pxd)
        for i in range(8):
            _STAMP[i] = low & 255
            _STAMP[8 + i] = high & 255
            low >>= 8
            high >>= 8
        return _PyLong_FromByteArray(_STAMP, 16, 1, 1)
    return (at << SEQ_BITS) + seq


def unstamp(value: int) -> tuple[int, int]:
    return value >> SEQ_BITS, value & ((1 << SEQ_BITS) - 1)


class IdState:
    """Everything kept about one identifier: its logs and its latest traits.

    ``first_at``/``first_seq``: its earliest message as a primary id.
    ``linked``/``linked_mark``: the last identifier its messages carried, and
    the stamp of that link's first appearance then: most messages carry the
    same one again, later, and need not look the link up (evaluator.py).
    ``profile``: the evaluator's profile holding it, kept by the evaluator
    (a message reaches its profile without a second lookup by identifier);
    not part of a snapshot, which rebuilds the profiles.
    """

    __slots__ = ("first_at", "first_seq", "linked", "linked_mark", "logs", "profile", "traits")

    def __init__(self, slots: int, first_at: int = 0, first_seq: int = 0) -> None:
        self.logs: list[Any] = [None] * slots
        self.traits: dict[str, tuple[int, int, Any]] = {}  # name -> (time, seq, value)
        self.first_at, self.first_seq = first_at, first_seq
        self.linked: Any = None
        self.linked_mark = 0
        self.profile: Any = None

    def __reduce__(self) -> tuple[Any, ...]:
        return _restored_state, (self.logs, self.traits, self.first_at, self.first_seq, self.linked,
                                 self.linked_mark)

    def set_trait(self, name: str, at: int, seq: int, value: Any) -> bool:
        current = self.traits.get(name)
        if current is None or (current[0], current[1]) < (at, seq):
            self.traits[name] = (at, seq, value)
            return True
        return False


def _restored_state(logs: list[Any], traits: dict[str, tuple[int, int, Any]], first_at: int, first_seq: int,
                    linked: Any, linked_mark: int) -> IdState:
    state = IdState(0, first_at, first_seq)
    state.logs, state.traits, state.linked, state.linked_mark = logs, traits, linked, linked_mark
    return state


def _remember(recent: list[int], at: int, seq: int) -> None:
    """Keep the RECENT latest stamps (to explain all-history conditions)."""
    value = stamp(at, seq)
    if len(recent) < RECENT:
        insort(recent, value)
    elif value > recent[0]:
        insort(recent, value)
        del recent[0]


# ---- one selector's events ---------------------------------------------------------


def _insert(stamps: list[int], value: int) -> int:
    if not stamps or value >= stamps[-1]:
        stamps.append(value)
        return len(stamps) - 1
    i = bisect_right(stamps, value)
    stamps.insert(i, value)
    return i


class SelectorLog:
    """All-history count and recent events; event times inside the window (if any).

    Window times and seqs are ``array('q')``: compact, and nothing for the
    garbage collector to walk (a list of ints is walked element by element).
    """

    __slots__ = ("n", "recent", "seqs", "ts")

    def __init__(self, recent: bool, window: bool) -> None:
        self.n = 0
        self.recent: list[int] | tuple[()] = [] if recent else _NO_LIST
        self.ts: array[int] | tuple[()] = array("q") if window else _NO_LIST
        self.seqs: array[int] | tuple[()] = array("q") if window else _NO_LIST


def _push(values: array[int], value: int) -> None:
    """Append ``value`` to an ``array('q')``.

    Compiled, a store into the array's buffer (cpython.array, cimported by
    state.pxd): ``array.append`` is a method call that parses its argument
    with ``PyArg_Parse``, ~900 instructions, and the windows take two per
    event (2 % of the real-time benchmark's instructions).
    """
    if COMPILED:
        n = len(values)
        resize_smart(values, n + 1)
        values.data.as_longlongs[n] = value
    else:
        values.append(value)


def after(ts: array[int], at: int) -> int:
    """How many of the instants ``ts`` (ascending) are at or before ``at``: where later ones start.

    ``bisect_right``; compiled, a search of the array's buffer. bisect on
    an ``array('q')`` makes a Python int of every element it probes (900
    instructions a search, 1.7 % of the real-time benchmark's).
    """
    if COMPILED:
        times = ts.data.as_longlongs
        lo, hi = 0, len(ts)
        while lo < hi:
            mid = (lo + hi) >> 1
            if at < times[mid]:
                hi = mid
            else:
                lo = mid + 1
        return lo
    return bisect_right(ts, at)


def later_than(ts: array[int], at: int) -> bool:
    """Whether the latest of the instants ``ts`` (ascending) is after ``at`` (False: none is)."""
    if COMPILED:
        n = len(ts)
        return n > 0 and ts.data.as_longlongs[n - 1] > at
    return bool(ts) and ts[-1] > at


def _window_insert(ts: Any, seqs: Any, at: int, seq: int) -> int:
    """Insert (at, seq) in time order (ties: arrival order); the index it went to."""
    if not later_than(ts, at):
        i = len(ts)
        _push(ts, at)
        _push(seqs, seq)
    else:
        i = after(ts, at)
        ts.insert(i, at)
        seqs.insert(i, seq)
    return i


class Slot:
    """One log of the plan: takes an event into an identifier's log, and says what that moves.

    ``index`` is the log's place in :attr:`IdState.logs`. How a new event
    moves the leaves reading the log (filled in by plan.py):

    - ``leaves``: (leaf, the value a new event cannot change, or None), to
      mark for evaluation;
    - ``quick``: "performed within" leaves, (leaf, window, wanted), decided by
      the event alone;
    - ``counts``: all-history counts, (leaf, its CountTest), decided by the total;
    - ``deadlines``: ``not_followed_by`` on its A side, (leaf, gap, window): a
      new A only adds a deadline.

    ``reads_properties``: whether ``take`` reads the event's properties; an
    event no slot (or ``where``) reads them of is not parsed.

    The kinds of log subclass this one, so the compiled evaluator calls
    ``take`` directly (state.pxd).
    """

    __slots__ = ("counts", "deadlines", "index", "leaves", "quick", "reads_properties")

    def __init__(self, index: int, reads_properties: bool = False) -> None:
        self.index, self.reads_properties = index, reads_properties
        self.leaves: Reads = ()
        self.quick: tuple[tuple[int, int, bool], ...] = ()
        self.counts: tuple[tuple[int, Any], ...] = ()
        self.deadlines: tuple[tuple[int, int, int], ...] = ()

    def take(self, state: IdState, at: int, seq: int, properties: Any, now: int) -> bool:
        """Take one event at ``now``; False when the log ignored it (nothing to re-evaluate)."""
        raise NotImplementedError


class SelectorSlot(Slot):
    """Takes the events of one selector into a :class:`SelectorLog`.

    ``horizon`` is the longest ``within`` of the counts reading it (0: no
    window list is kept); ``recent`` whether an all-history count reads it.
    """

    __slots__ = ("horizon", "recent")

    def __init__(self, index: int, horizon: int, recent: bool) -> None:
        super().__init__(index)
        self.horizon, self.recent = horizon, recent

    def take(self, state: IdState, at: int, seq: int, properties: Any, now: int) -> bool:
        log = state.logs[self.index]
        if log is None:
            log = state.logs[self.index] = SelectorLog(self.recent, self.horizon > 0)
        log.n += 1
        if self.recent:
            _remember(log.recent, at, seq)  # type: ignore[arg-type]
        horizon = self.horizon
        if horizon and at > now - horizon:
            ts = log.ts
            if not later_than(ts, at):  # type: ignore[arg-type]
                _push(ts, at)  # type: ignore[arg-type]
                _push(log.seqs, seq)  # type: ignore[arg-type]
            else:
                _window_insert(ts, log.seqs, at, seq)
            drop = after(ts, now - horizon)  # type: ignore[arg-type]
            if drop:
                del ts[:drop], log.seqs[:drop]  # type: ignore[union-attr]
        return True


# ---- one numeric property of one selector's events ---------------------------------


class AggregateLog:
    """All-history count, exact sum, min and max; values inside the window (if any)."""

    __slots__ = ("exacts", "hi", "lo", "n", "recent", "seqs", "total", "ts", "values")

    def __init__(self, history: bool, window: bool) -> None:
        self.n = 0
        self.total = 0
        self.lo: Any = None
        self.hi: Any = None
        self.recent: list[int] | tuple[()] = [] if history else _NO_LIST
        self.ts: array[int] | tuple[()] = array("q") if window else _NO_LIST
        self.seqs: array[int] | tuple[()] = array("q") if window else _NO_LIST
        self.values: list[int | float] | tuple[()] = [] if window else _NO_LIST
        self.exacts: list[int] | tuple[()] = [] if window else _NO_LIST


class AggregateSlot(Slot):
    """Takes the numeric values of ``path`` in one selector's events."""

    __slots__ = ("history", "horizon", "path")

    def __init__(self, index: int, path: tuple[str, ...], horizon: int, history: bool) -> None:
        super().__init__(index, reads_properties=True)
        self.path, self.horizon, self.history = path, horizon, history

    def take(self, state: IdState, at: int, seq: int, properties: Any, now: int) -> bool:
        value = lookup(properties, self.path)
        if not number(value):
            return False
        log = state.logs[self.index]
        if log is None:
            log = state.logs[self.index] = AggregateLog(self.history, self.horizon > 0)
        scaled = exact(value)
        if self.history:
            log.n += 1
            log.total += scaled
            as_double = float(value)
            if log.lo is None or as_double < log.lo:
                log.lo = as_double
            if log.hi is None or as_double > log.hi:
                log.hi = as_double
            _remember(log.recent, at, seq)  # type: ignore[arg-type]
        horizon = self.horizon
        if horizon:
            cut = now - horizon
            if at <= cut:
                return self.history
            i = _window_insert(log.ts, log.seqs, at, seq)
            log.values.insert(i, float(value))  # type: ignore[union-attr]
            log.exacts.insert(i, scaled)  # type: ignore[union-attr]
            drop = after(log.ts, cut)  # type: ignore[arg-type]
            if drop:
                del log.ts[:drop], log.seqs[:drop], log.values[:drop], log.exacts[:drop]  # type: ignore[union-attr]
        return True


# ---- A and B events of one sequence ------------------------------------------------


class SequenceLog:
    """A and B events (stamps, sorted) by ``same`` key; ``latched`` once settled true for good."""

    __slots__ = ("a", "b", "latched")

    def __init__(self) -> None:
        self.a: dict[Key, list[int]] = {}
        self.b: dict[Key, list[int]] = {}
        self.latched = False


def partner(bs: list[int] | None, a: int, gap: int | None) -> int | None:
    """A B of ``bs`` (sorted stamps) with A.ts <= B.ts <= A.ts + gap, other than A itself."""
    if not bs:
        return None
    at = a >> SEQ_BITS
    i = bisect_left(bs, stamp(at, 0))
    limit = stamp(at + gap + 1, 0) if gap is not None else None
    for j in (i, i + 1):
        if j >= len(bs):
            return None
        b = bs[j]
        if limit is not None and b >= limit:
            return None
        if b != a:
            return b
    return None


def follower_of(as_: list[int] | None, b: int, gap: int | None) -> bool:
    """Whether some A of ``as_`` (sorted stamps) is followed by the B ``b``."""
    if not as_:
        return False
    bt = b >> SEQ_BITS
    i = bisect_left(as_, stamp(bt - gap, 0)) if gap is not None else 0
    end = stamp(bt + 1, 0)
    while i < len(as_) and as_[i] < end:
        if as_[i] != b:
            return True
        i += 1
    return False


class SequenceSlot(Slot):
    """One side (A or B) of a sequence condition feeding its :class:`SequenceLog`.

    ``window`` is the ``within`` of A (0: all history), ``gap`` the nested
    ``within`` D (None: unbounded), ``negated`` for ``not_followed_by``.
    """

    __slots__ = ("follows", "gap", "is_a", "negated", "paths", "window")

    def __init__(self, index: int, is_a: bool, paths: tuple[tuple[str, ...], ...], window: int,
                 gap: int | None, negated: bool) -> None:
        super().__init__(index, reads_properties=bool(paths))  # the ``same`` values
        self.is_a, self.paths = is_a, paths
        self.window, self.gap, self.negated = window, gap, negated
        # followed_by without ``within`` on A: decided in place by :meth:`pairs` (see plan.py)
        self.follows: tuple[int, ...] = ()

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
        value = stamp(at, seq)
        if window:
            _insert(events, value)
            first = stamp(now - window + 1, 0)
            if events[0] < first:
                del events[: bisect_left(events, first)]
            return True
        return self._settle(log, events, other.get(key), value)

    def pairs(self, states: list[IdState], at: int, seq: int, properties: Any) -> bool:
        """Whether the event just taken makes a pair with an event of the other side, in any of ``states``.

        For ``followed_by`` without ``within`` on A, where a pair, once there,
        holds forever: a leaf that was false holds after a new event exactly when
        the new event pairs. Trimmed lists (no gap: two earliest A, two latest
        B) answer as they do for the leaf: a pair with a dropped event implies
        one with a kept event.
        """
        key = same_key(properties, self.paths, seq if self.is_a else None) if self.paths else ()
        if key is None:
            return False
        value, index, gap = stamp(at, seq), self.index, self.gap
        for state in states:
            log = state.logs[index]
            if log is None:
                continue
            if log.latched:
                return True
            if self.is_a:
                if partner(log.b.get(key), value, gap) is not None:
                    return True
            elif follower_of(log.a.get(key), value, gap):
                return True
        return False

    def _settle(self, log: SequenceLog, events: list[int], others: list[int] | None, value: int) -> bool:
        """All-history sequences: keep only what a later event or a merge can still change."""
        gap = self.gap
        if self.negated:
            if self.is_a:
                if partner(others, value, gap) is not None:
                    return False  # followed in its own identifier: never abandoned
                _insert(events, value)
            else:
                _insert(events, value)
                if others:
                    bt = value >> SEQ_BITS
                    low, end = (stamp(bt - gap, 0) if gap is not None else -math.inf), stamp(bt + 1, 0)
                    others[:] = [a for a in others if not (low <= a < end and a != value)]
            return True
        followed = partner(others, value, gap) is not None if self.is_a else follower_of(others, value, gap)
        if followed:
            log.latched = True
            log.a, log.b = {}, {}
            return True
        _insert(events, value)
        if gap is None and len(events) > 2:
            # Unbounded gap: the two earliest A and the two latest B decide every pair.
            if self.is_a:
                del events[2:]
            else:
                del events[:-2]
        return True

