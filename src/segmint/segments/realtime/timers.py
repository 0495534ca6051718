"""The schedule of instants at which time alone can change a profile's memberships.

One entry per profile at a time is valid: the earliest instant at which one
of its leaves may flip (``Profile.due``). Entries are never removed from the
heap when they go stale; they are skipped when popped (lazy deletion):

- a profile whose earliest instant moves *earlier* gets a new entry, the
  old one becomes stale;
- one whose earliest instant moves *later* keeps its entry and wakes up
  early once, finds nothing due, and is scheduled again. That keeps the heap
  to about one entry per profile instead of one per event.

The evaluator pops due entries itself (``RealtimeEvaluator.advance``): an
entry is valid while its profile is alive and ``profile.due`` is its instant.
"""

from __future__ import annotations

import heapq
from typing import Generic, Protocol, TypeVar


class Scheduled(Protocol):
    due: int | None
    alive: bool


P = TypeVar("P", bound=Scheduled)


class Schedule(Generic[P]):
    __slots__ = ("_tick", "heap")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, P]] = []
        self._tick = 0  # ties broken by scheduling order, never by comparing profiles

    def __len__(self) -> int:
        return len(self.heap)

    def want(self, profile: P, at: int) -> None:
        """Wake ``profile`` at ``at`` at the latest."""
        if profile.due is None or at < profile.due:
            profile.due = at
            self._tick += 1
            heapq.heappush(self.heap, (at, self._tick, profile))

    def next_at(self) -> int | None:
        """The earliest instant with a valid entry, dropping stale ones on the way."""
        heap = self.heap
        while heap:
            at, _, profile = heap[0]
            if profile.alive and profile.due == at:
                return at
            heapq.heappop(heap)
        return None
