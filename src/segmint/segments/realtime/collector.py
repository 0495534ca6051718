"""The cyclic garbage collector's policy in processes that keep an evaluator (``replay``, ``serve``).

The evaluator's state is many small containers per identifier (the logs,
their arrays and lists, dicts by ``same`` key: about 35 tracked objects per
identifier) that live as long as the process. CPython's cyclic collector
walks the young ones at every collection of the young generation (by
default, every 700 net allocations) and all of them at every full
collection, and a growing state triggers one at every 25 % of growth: with
the default policy a replay spends a fifth of its CPU time re-walking state
that is never garbage.

That state is acyclic and makes no cyclic garbage: everything in it is
freed by reference counting when it is dropped
(``tests/segments/test_realtime_collector.py`` holds this). So it need not
be walked at all; ``gc.freeze()`` moves everything alive to the permanent
generation, which collections skip (reference counting still frees it),
and costs nothing (it splices lists).

- :func:`freeze_survivors` (``segmint serve``: after start-up, a restore
  or a rebuild, and after every snapshot): collect once, walking only what
  was made since the last freeze, then freeze; raise the young threshold
  to ``YOUNG`` allocations.
- :class:`CollectorPolicy` (``segmint replay``, and the real-time
  benchmark, which applies it exactly as ``segmint replay`` does): the same
  at start, then a bare freeze every ``FREEZE_EVERY`` messages (about
  4 tracked objects each, well under ``YOUNG``), so the state is frozen as
  it grows and never walked. A reference cycle that becomes garbage during
  the policy is kept until it ends (then collected as usual); the
  evaluator makes none.
"""

from __future__ import annotations

import gc
from types import TracebackType

FREEZE_EVERY = 5_000  # messages between freezes during a replay
YOUNG = 50_000  # net allocations between young collections (CPython's default: 700)


def freeze_survivors() -> None:
    """Collect what is garbage now, then exempt everything alive from later collections.

    Costs one walk of what is not frozen yet (what was made since the last
    call). Also raises the young generation's threshold to ``YOUNG``.
    """
    young, *older = gc.get_threshold()
    if young < YOUNG:
        gc.set_threshold(YOUNG, *older)
    gc.collect()
    gc.freeze()


class CollectorPolicy:
    """Freeze at start and every ``every`` messages; on exit, undo what it changed.

        with CollectorPolicy() as policy:
            for rows in batches:
                evaluator.feed(rows)
                policy.fed(len(rows))
    """

    __slots__ = ("_owner", "_since", "_threshold", "every")

    def __init__(self, every: int = FREEZE_EVERY) -> None:
        self.every = every
        self._since = 0
        self._owner = False
        self._threshold = gc.get_threshold()

    def __enter__(self) -> CollectorPolicy:
        # Only a policy that found nothing frozen may unfreeze at the end: unfreezing
        # is all or nothing, and what the caller froze is the caller's.
        self._owner = gc.get_freeze_count() == 0
        self._threshold = gc.get_threshold()
        freeze_survivors()
        return self

    def fed(self, count: int) -> None:
        """``count`` more messages went in; freeze once ``every`` have since the last time."""
        self._since += count
        if self._since >= self.every:
            self._since = 0
            gc.freeze()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        gc.set_threshold(*self._threshold)
        if self._owner:
            gc.unfreeze()
