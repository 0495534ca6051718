"""Which (source, messageId) pairs the store already holds.

A DuckDB primary key would do this, but its index makes every small commit
slow (measured: ~120 ms per 1,000-row insert at 10M keys), and a join
against the events table per commit grows with the store. Instead the
writer keeps the 128-bit MD5 of every stored key in memory: sorted NumPy
arrays (low half, and the high half alongside) for what was there at open,
plus a set for what came since: 16 bytes a message, 160 MB for 10 million.
At 128 bits an accidental collision is out of reach (about 1e-25 at 10
million keys), so a hit is final and needs no look-up in the store.

Keys of a batch inserted but not yet committed are *reserved*: they count
as stored for every batch decided after it (so two overlapping commits
never store the same message twice), and are confirmed once the commit is
durable or released if it fails.
"""

from __future__ import annotations

import numpy as np


class DedupIndex:
    """A set of 128-bit keys, given as (low, high) uint64 halves, with batch membership."""

    _MERGE_AT = 1 << 20

    def __init__(self, low: np.ndarray | None = None, high: np.ndarray | None = None) -> None:
        low = np.asarray(low if low is not None else [], dtype=np.uint64)
        high = np.asarray(high if high is not None else [], dtype=np.uint64)
        order = np.argsort(low, kind="stable")
        self._low, self._high = low[order], high[order]
        self._recent: set[tuple[int, int]] = set()
        self._reserved: set[tuple[int, int]] = set()

    def __len__(self) -> int:
        """How many keys are stored (reserved ones not counted)."""
        return len(self._low) + len(self._recent)

    def contains(self, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        """A boolean mask: which keys are stored or reserved."""
        low = np.asarray(low, dtype=np.uint64)
        high = np.asarray(high, dtype=np.uint64)
        hit = np.zeros(len(low), dtype=bool)
        if len(self._low):
            start = np.searchsorted(self._low, low, side="left")
            stop = np.searchsorted(self._low, low, side="right")
            for i in np.flatnonzero(stop > start):  # equal low halves: check the high half
                hit[i] = bool((self._high[start[i] : stop[i]] == high[i]).any())
        if self._recent or self._reserved:
            recent, reserved = self._recent, self._reserved
            hit |= np.fromiter(
                ((pair in recent or pair in reserved) for pair in zip(map(int, low), map(int, high))),
                dtype=bool,
                count=len(low),
            )
        return hit

    def reserve(self, low: np.ndarray, high: np.ndarray) -> None:
        """Hold keys of a batch not yet committed: :meth:`contains` reports them from now on."""
        self._reserved.update(_pairs(low, high))

    def confirm(self, low: np.ndarray, high: np.ndarray) -> None:
        """The reserved keys' commit is durable: they are stored."""
        self._reserved.difference_update(_pairs(low, high))
        self.add(low, high)

    def release(self, low: np.ndarray, high: np.ndarray) -> None:
        """The reserved keys' commit failed: they are free again."""
        self._reserved.difference_update(_pairs(low, high))

    @property
    def reserved(self) -> int:
        return len(self._reserved)

    def add(self, low: np.ndarray, high: np.ndarray) -> None:
        low = np.asarray(low, dtype=np.uint64)
        high = np.asarray(high, dtype=np.uint64)
        if len(low) > 4096:
            self._merge(low, high)  # large batches (imports) go straight into the sorted arrays
            return
        self._recent.update(zip(map(int, low), map(int, high)))
        if len(self._recent) >= self._MERGE_AT:
            pairs = np.array(list(self._recent), dtype=np.uint64).reshape(-1, 2)
            self._recent.clear()
            self._merge(pairs[:, 0], pairs[:, 1])

    def _merge(self, low: np.ndarray, high: np.ndarray) -> None:
        all_low = np.concatenate([self._low, low])
        all_high = np.concatenate([self._high, high])
        order = np.argsort(all_low, kind="stable")  # radix sort for uint64
        self._low, self._high = all_low[order], all_high[order]


def _pairs(low: np.ndarray, high: np.ndarray) -> zip[tuple[int, int]]:
    return zip(map(int, np.asarray(low, dtype=np.uint64)), map(int, np.asarray(high, dtype=np.uint64)))
