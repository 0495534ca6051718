"""Which (source, messageId) pairs the store already holds.

A DuckDB primary key would do this, but its index makes every small commit
slow (measured: ~120 ms per 1,000-row insert at 10M keys), and a join
against the events table per commit grows with the store. Instead the
writer keeps the 64-bit hashes of every stored key in memory: a sorted
NumPy array for what was there at open, plus a set for what came since
(8 bytes a message: 80 MB for 10 million). A hash hit is only a candidate;
the caller confirms it exactly against the store, so a collision can never
drop a new message.
"""

from __future__ import annotations

import numpy as np


class DedupIndex:
    """A set of 64-bit message-key hashes with fast batch membership."""

    _MERGE_AT = 1 << 20

    def __init__(self, keys: np.ndarray | None = None) -> None:
        base = np.asarray(keys if keys is not None else [], dtype=np.uint64)
        self._sorted = np.unique(base)
        self._recent: set[int] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """A boolean mask: which of ``keys`` may already be stored."""
        keys = np.asarray(keys, dtype=np.uint64)
        hit = np.zeros(len(keys), dtype=bool)
        if len(self._sorted):
            at = np.searchsorted(self._sorted, keys)
            inside = at < len(self._sorted)
            hit[inside] = self._sorted[at[inside]] == keys[inside]
        if self._recent:
            recent = self._recent
            hit |= np.fromiter((int(k) in recent for k in keys), dtype=bool, count=len(keys))
        return hit

    def add(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.uint64)
        if len(keys) > 4096:
            # Large batches (imports) go straight into the sorted array. The
            # keys are new by construction, so a merge (radix sort of
            # uint64) is enough: no deduplicating pass.
            self._sorted = np.sort(np.concatenate([self._sorted, keys]), kind="stable")
            return
        self._recent.update(int(k) for k in keys)
        if len(self._recent) >= self._MERGE_AT:
            recent = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
            self._sorted = np.sort(np.concatenate([self._sorted, recent]), kind="stable")
            self._recent.clear()
