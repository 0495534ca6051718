# cython: boundscheck=False, wraparound=False
"""The schedule of instants at which time alone can change a profile's memberships.

One entry per profile at a time is valid: the earliest instant at which one
of its leaves may flip (``Profile.due``). Entries are never removed when
they go stale; they are skipped when their instant comes (lazy deletion):

- a profile whose earliest instant moves *earlier* gets a new entry, the
  old one becomes stale;
- one whose earliest instant moves *later* keeps its entry and wakes up
  early once, finds nothing due, and is scheduled again. That keeps the
  schedule to about one entry per profile instead of one per event.

Layout, for speed: a heap of plain ints (the distinct instants) and, for
each instant, the profiles waiting for it in the order they asked. A heap
of ``(instant, tick, profile)`` tuples reaches each key through its tuple,
one more scattered object per comparison: in the real-time benchmark
(~10,000 profiles waiting; py-spy over the exact replay of 150,000
messages) taking the due profiles fell from 6.8 % of the samples to 3.3 %.

The evaluator takes due profiles itself (``RealtimeEvaluator.advance``, with
:meth:`Schedule.first` and :meth:`Schedule.take`): an entry is valid while
its profile is alive and ``profile.due`` is its instant.

The heap itself has one form per build of the core (segmint/compiled.py):
the Python source keeps a list under ``heapq`` (C code, where a heap written
in Python would cost ten times as much: 6.8 against 0.6 us a push and pop),
and the compiled build a C array of 64-bit instants with the same sift
written here (typed by timers.pxd): no Python int reached through a pointer
per comparison. Both order the instants alike; the tests run both.

Each profile's own dues (per leaf, the next instant time alone may flip it)
are here too: :func:`new_dues` and the functions after it.
"""

from __future__ import annotations

import heapq
from array import array

try:
    import cython

    COMPILED = cython.compiled  # a constant when Cython compiles this module: True
except ImportError:  # Cython is only needed to build the compiled core
    COMPILED = False

NEVER = 1 << 62  # later than any instant: an empty schedule's first(), and "nothing held" in the evaluator


# ---- a profile's dues -------------------------------------------------------------------
# Each profile keeps, per leaf, the next instant time alone may flip it (NEVER: none), in one
# array of 64-bit instants indexed by leaf. A wake-up scans it: in the compiled build a C loop
# over one contiguous block, where a dict of leaf -> Python int reached a scattered int object
# per entry (about 15 cache misses a wake-up on a cold profile in the real-time benchmark).


def new_dues(leaves: int) -> array:
    """Dues for ``leaves`` leaves, none set."""
    return array("q", [NEVER]) * leaves


def due(dues: array, leaf: int) -> int:
    """The leaf's due (NEVER: none)."""
    if COMPILED:
        return dues.data.as_longlongs[leaf]
    return dues[leaf]


def set_due(dues: array, leaf: int, at: int) -> None:
    """Set the leaf's due (NEVER: clear it)."""
    if COMPILED:
        dues.data.as_longlongs[leaf] = at
    else:
        dues[leaf] = at


def earliest(dues: array) -> int:
    """The earliest due (NEVER: none)."""
    if COMPILED:
        first = NEVER
        times = dues.data.as_longlongs
        for i in range(len(dues)):
            if times[i] < first:
                first = times[i]
        return first
    return min(dues, default=NEVER)


def passed(dues: array, at: int) -> list[int]:
    """The leaves due at or before ``at``, in leaf order."""
    if COMPILED:
        found = []
        times = dues.data.as_longlongs
        for i in range(len(dues)):
            if times[i] <= at:
                found.append(i)
        return found
    return [leaf for leaf, when in enumerate(dues) if when <= at]


class Scheduled:
    """What the schedule wakes: the instant of its valid entry (NEVER: none) and whether it lives.

    A base class, not a protocol: compiled, both are C fields that the
    schedule and the evaluator read without a Python int reached through a
    pointer (the profile is cold by its due: one cache miss less a wake-up).
    """

    __slots__ = ("alive", "due")

    def __init__(self) -> None:
        self.due = NEVER
        self.alive = True


class Schedule:
    """Profiles (:class:`Scheduled`) by the instant they wait for.

    Not generic over the profile type: it is compiled (``timers.pxd``) and a
    compiled class cannot be.
    """

    __slots__ = ("_heap", "_size", "_times", "waiting")

    def __init__(self) -> None:
        self.waiting: dict[int, list[Scheduled]] = {}    # instant -> profiles, in the order they asked
        # The distinct instants of ``waiting``, as a heap: a list (Python source) or the first
        # ``_size`` of ``_times`` (compiled; the list stays empty).
        self._heap: list[int] = []
        self._times = array("q", bytes(8 * 64)) if COMPILED else None
        self._size = 0

    def __len__(self) -> int:
        """Entries, stale ones included."""
        return sum(len(bucket) for bucket in self.waiting.values())

    def want(self, profile: Scheduled, at: int) -> None:
        """Wake ``profile`` at ``at`` at the latest."""
        if at < profile.due:  # NEVER (not waiting) included
            profile.due = at
            instant = at  # the dictionary's key: one Python int made, where compiled
            bucket = self.waiting.get(instant)
            if bucket is None:
                self.waiting[instant] = [profile]
                if COMPILED:
                    self._push(at)
                else:
                    heapq.heappush(self._heap, at)
            else:
                bucket.append(profile)

    def first(self) -> int:
        """The earliest instant waited for, valid or not (NEVER: none)."""
        if COMPILED:
            return self._times[0] if self._size else NEVER
        return self._heap[0] if self._heap else NEVER

    def next_at(self) -> int | None:
        """The earliest instant with a valid entry, dropping stale instants on the way."""
        waiting = self.waiting
        while (at := self.first()) != NEVER:
            for profile in waiting[at]:
                if profile.alive and profile.due == at:
                    return at
            self._pop()
            del waiting[at]
        return None

    def take(self, at: int) -> list[Scheduled]:
        """Remove the earliest instant, ``at``; its entries, stale ones included, in the order asked.

        A profile may be listed twice (it asked for ``at``, then for an earlier
        instant, woke, and asked for ``at`` again): the caller acts on an entry
        only while ``profile.due == at``, and sets ``due`` to NEVER when it does.
        """
        self._pop()
        return self.waiting.pop(at)

    def _pop(self) -> None:
        """Drop the earliest instant of the heap."""
        if not COMPILED:
            heapq.heappop(self._heap)
            return
        times, n = self._times, self._size - 1
        last, i = times[n], 0
        while True:  # sift the last instant down from the root
            child = 2 * i + 1
            if child >= n:
                break
            if child + 1 < n and times[child + 1] < times[child]:
                child += 1
            if times[child] >= last:
                break
            times[i] = times[child]
            i = child
        times[i] = last
        self._size = n

    def _push(self, at: int) -> None:
        """Add ``at`` to the compiled build's heap (a new distinct instant)."""
        n = self._size
        if n == len(self._times):
            self._times = array("q", self._times) * 2  # doubled; the first n kept
        times, i = self._times, n
        while i > 0:  # sift up from the end
            parent = (i - 1) >> 1
            if times[parent] <= at:
                break
            times[i] = times[parent]
            i = parent
        times[i] = at
        self._size = n + 1
