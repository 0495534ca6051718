"""Identity resolution in bulk: connected components where no limit binds.

The rule (``graph.py``, docs/identity.md) applies links one at a time in
event-time order, refusing a join that would break a per-kind limit or
``max_ids``. Resolution never crosses a *cluster* (identifiers connected
by any link, accepted or refused), and within a cluster whose identifiers
all fit in one profile no join can ever be refused: every partial profile
is a subset of the cluster. For those clusters, nearly all of them in
practice, the answer is simply the connected component, computed with
SciPy over integer ids. Only the clusters that break a limit are resolved
by the exact, ordered :class:`IdentityGraph`. A property test
(tests/identity/test_components.py) holds the two to the same profiles and
conflicts.

Identifiers arrive numbered in ``(kind, value)`` order, so that comparing
numbers compares identifiers as the graph does when it breaks ties.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from segmint.identity.graph import (
    ANONYMOUS_ID,
    USER_ID,
    Conflict,
    IdentityGraph,
    IdKey,
    Link,
    _profile_id,
    resolve,
)


@dataclass
class Identifiers:
    """Every identifier, numbered ``0..n-1`` in ``(kind, value)`` order, with its first sighting."""

    kinds: np.ndarray  # object: the kind of each identifier
    values: np.ndarray  # object: its value
    at: np.ndarray  # int64: first seen, µs since the epoch
    seq: np.ndarray  # int64: the seq of that first sighting


@dataclass
class Links:
    """Every distinct link at its first appearance, as identifier numbers."""

    a: np.ndarray  # int64
    b: np.ndarray  # int64
    at: np.ndarray  # int64
    seq: np.ndarray  # int64


@dataclass
class Resolution:
    """Resolved profiles, read like an :class:`IdentityGraph` (``profiles``, ``conflicts``, ``first_seen``)."""

    ids: Identifiers
    profile_of: np.ndarray  # int64: per identifier, the number of its profile's id-giving identifier
    exact: IdentityGraph  # the clusters that needed the ordered graph
    _first: dict[IdKey, tuple[int, int]] | None = field(default=None, repr=False)
    _members: dict[IdKey, list[IdKey]] | None = field(default=None, repr=False)

    def profiles(self) -> Iterator[tuple[str, list[IdKey]]]:
        kinds, values = self.ids.kinds, self.ids.values
        fast = np.flatnonzero(self.profile_of >= 0)
        order = fast[np.argsort(self.profile_of[fast], kind="stable")]
        owners = self.profile_of[order]
        cuts = np.flatnonzero(np.diff(owners)) + 1
        for group in np.split(order, cuts) if len(order) else []:
            owner = self.profile_of[group[0]]
            yield values[owner], [(kinds[i], values[i]) for i in group]
        yield from self.exact.profiles()

    def conflicts(self) -> Iterator[Conflict]:
        return self.exact.conflicts()

    def _first_seen(self) -> dict[IdKey, tuple[int, int]]:
        if self._first is None:
            self._first = {
                (k, v): (int(a), int(s))
                for k, v, a, s in zip(self.ids.kinds, self.ids.values, self.ids.at, self.ids.seq)
            }
        return self._first

    def first_seen(self, key: IdKey) -> tuple[int, int]:
        return self._first_seen()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._first_seen()

    def component(self, key: IdKey) -> list[IdKey]:
        if self._members is None:
            self._members = {}
            for _, members in self.profiles():
                for member in members:
                    self._members[member] = members
        return self._members.get(key, [key])

    def profile_id(self, key: IdKey) -> str:
        return _profile_id(self.component(key), self._first_seen())

    def identity_table(self) -> pa.Table:
        """``kind, value, profile_id, first_seen`` per identifier (the store's ``identities``)."""
        fast = np.flatnonzero(self.profile_of >= 0)
        kinds = list(self.ids.kinds[fast])
        values = list(self.ids.values[fast])
        profiles = list(self.ids.values[self.profile_of[fast]])
        first = self.ids.at[fast].tolist()
        for profile_id, members in self.exact.profiles():
            for kind, value in members:
                kinds.append(kind)
                values.append(value)
                profiles.append(profile_id)
                first.append(self.exact.first_seen((kind, value))[0])
        return pa.table(
            {
                "kind": pa.array(kinds, pa.string()),
                "value": pa.array(values, pa.string()),
                "profile_id": pa.array(profiles, pa.string()),
                "first_seen": pa.array(first, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            }
        )


def resolve_components(
    ids: Identifiers, links: Links, limits: Mapping[str, int] | None = None, max_ids: int = 1000
) -> Resolution:
    """The same profiles and conflicts as ``graph.resolve`` on the same identifiers and links."""
    limits = IdentityGraph(limits, max_ids).limits  # the defaults, as the graph applies them
    n = len(ids.kinds)
    if n == 0:
        return Resolution(ids, np.zeros(0, dtype=np.int64), IdentityGraph(limits, max_ids))
    kind_names, kind_code = np.unique(ids.kinds.astype(str), return_inverse=True)
    kind_code = kind_code.astype(np.int64)
    # Imported here, not at the top: SciPy takes 0.14-0.2 s to import, which commands that never
    # resolve identities should not pay.
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    matrix = coo_matrix((np.ones(len(links.a), dtype=np.int8), (links.a, links.b)), shape=(n, n))
    count, label = connected_components(matrix, directed=False)
    label = label.astype(np.int64)

    # A cluster breaks a limit when all of it together would.
    per_kind = np.bincount(label * len(kind_names) + kind_code, minlength=count * len(kind_names))
    per_kind = per_kind.reshape(count, len(kind_names))
    broken = per_kind.sum(axis=1) > max_ids
    for k, name in enumerate(kind_names):
        cap = limits.get(str(name))
        if cap is not None:
            broken |= per_kind[:, k] > cap
    exact_ids = broken[label]

    # Elsewhere a profile is its cluster; its id-giving identifier is the
    # earliest user id, else the earliest anonymous id, else the earliest
    # (ties: seq, then (kind, value), which the numbering follows).
    rank = np.full(n, 2, dtype=np.int64)
    rank[ids.kinds == USER_ID] = 0
    rank[ids.kinds == ANONYMOUS_ID] = 1
    order = np.lexsort((np.arange(n), ids.seq, ids.at, rank, label))
    ordered_labels = label[order]
    heads = order[np.r_[True, ordered_labels[1:] != ordered_labels[:-1]]]
    owner = np.empty(count, dtype=np.int64)
    owner[label[heads]] = heads
    profile_of = owner[label]
    profile_of[exact_ids] = -1

    return Resolution(ids, profile_of, _exact(ids, links, exact_ids, limits, max_ids))


def _exact(
    ids: Identifiers, links: Links, exact_ids: np.ndarray, limits: Mapping[str, int], max_ids: int
) -> IdentityGraph:
    """The ordered graph over the clusters that break a limit."""
    members = np.flatnonzero(exact_ids)
    keys = {int(i): (ids.kinds[i], ids.values[i]) for i in members}
    chosen = np.flatnonzero(exact_ids[links.a]) if len(links.a) else np.zeros(0, dtype=np.int64)
    link_list = [
        Link(int(links.at[j]), int(links.seq[j]), keys[int(links.a[j])], keys[int(links.b[j])]) for j in chosen
    ]
    observations = ((keys[int(i)], int(ids.at[i]), int(ids.seq[i])) for i in members)
    return resolve(link_list, observations, limits, max_ids)


def identifiers_of(rows: Sequence[tuple[str, str, int, int]]) -> Identifiers:
    """Identifiers from ``(kind, value, at, seq)`` rows, numbered in ``(kind, value)`` order."""
    rows = sorted(rows)
    return Identifiers(
        kinds=np.array([r[0] for r in rows], dtype=object),
        values=np.array([r[1] for r in rows], dtype=object),
        at=np.array([r[2] for r in rows], dtype=np.int64),
        seq=np.array([r[3] for r in rows], dtype=np.int64),
    )

