"""Identity resolution: which identifiers belong to one person.

Identifiers are ``(kind, value)`` pairs: ``("user_id", "u42")``,
``("anonymous_id", "3f1c...")``, or a configured kind such as
``("email", "ada@example.com")``. A *link* says two identifiers appeared
together (one message carried both, or an ``alias`` joined them).

The rule, documented in docs/identity.md: links are applied in event-time
order (ties broken by arrival ``seq``). A link joins the two profiles unless
the joined profile would hold more identifiers of one kind than its limit
allows (by default one ``user_id``: two different users are never merged)
or more than ``max_ids`` in all; such a link is refused and recorded as a
conflict, and the earlier joins stand. Because the outcome depends only on
that order, a link that arrives late is handled by replaying the links of
the identifiers it touches, in order, so that the result never depends on
arrival order: batch and real time resolve the same profiles.

A profile's id is its ``user_id``; a profile without one takes its
earliest-seen ``anonymous_id`` (earliest by event time, then ``seq``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

IdKey = tuple[str, str]
Instant = Any  # anything ordered: a datetime, or microseconds since the epoch

USER_ID = "user_id"
ANONYMOUS_ID = "anonymous_id"


class Link(NamedTuple):
    """Two identifiers that appeared together at (at, seq); ordered by (at, seq), then the ids.

    A named tuple, not an ordered dataclass: links are sorted and compared
    on every late link, and a tuple compares in C where a dataclass runs
    Python code per comparison (the real-time evaluator makes one per new link).
    """

    at: Instant
    seq: int
    a: IdKey
    b: IdKey


@dataclass(frozen=True)
class Conflict:
    link: Link
    reason: str


@dataclass
class _Cluster:
    """Identifiers connected by any link, accepted or refused.

    Resolution never crosses a cluster's edge, so a late link only requires
    replaying the links of its own cluster.
    """

    links: list[Link] = field(default_factory=list)
    parent: dict[IdKey, IdKey] = field(default_factory=dict)   # accepted joins
    counts: dict[IdKey, dict[str, int]] = field(default_factory=dict)  # per component root
    conflicts: list[Conflict] = field(default_factory=list)


class IdentityGraph:
    """Incremental identity resolution with per-kind limits; order-independent."""

    def __init__(self, limits: Mapping[str, int] | None = None, max_ids: int = 1000) -> None:
        self.limits = dict({USER_ID: 1, ANONYMOUS_ID: 100} | dict(limits or {}))
        self.max_ids = max_ids
        self._first_seen: dict[IdKey, tuple[Instant, int]] = {}
        self._cluster_of: dict[IdKey, IdKey] = {}        # union-find over all links
        self._clusters: dict[IdKey, _Cluster] = {}

    # ---- building -------------------------------------------------------

    def observe(self, key: IdKey, at: Instant, seq: int) -> None:
        """Record that ``key`` appeared in a message at (at, seq)."""
        # Most identifiers are never linked: they get a cluster only when
        # their first link arrives, which keeps observing cheap.
        seen = self._first_seen.get(key)
        if seen is None or (at, seq) < seen:
            self._first_seen[key] = (at, seq)

    def _cluster_root(self, key: IdKey) -> IdKey:
        if key not in self._cluster_of:
            self._cluster_of[key] = key
            self._clusters[key] = _Cluster(parent={key: key}, counts={key: {key[0]: 1}})
            return key
        return self._find_cluster(key)

    def link(self, link: Link) -> None:
        """Apply a link; both ends are observed at the link's instant."""
        self.observe(link.a, link.at, link.seq)
        self.observe(link.b, link.at, link.seq)
        if link.a not in self._cluster_of and link.b not in self._cluster_of and link.a != link.b:
            # The usual first link of a visitor (user id and anonymous id,
            # both new): one cluster for the two at once, instead of two
            # made and merged (the server applies this per message).
            a, b = link.a, link.b
            cluster = _Cluster([link], {a: a, b: b}, {a: {a[0]: 1}, b: {b[0]: 1}})
            self._cluster_of[a] = self._cluster_of[b] = a
            self._clusters[a] = cluster
            self._apply(cluster, link)
            return
        root_a, root_b = self._cluster_root(link.a), self._cluster_root(link.b)
        cluster = self._clusters[root_a]
        in_order = not cluster.links or cluster.links[-1] <= link
        if root_a != root_b:
            other = self._clusters.pop(root_b)
            in_order = in_order and (not other.links or other.links[-1] <= link)
            self._cluster_of[root_b] = root_a
            cluster.links = _merge_sorted(cluster.links, other.links)
            cluster.parent.update(other.parent)
            cluster.counts.update(other.counts)
            cluster.conflicts.extend(other.conflicts)
        if in_order:
            cluster.links.append(link)
            self._apply(cluster, link)
        else:
            bisect.insort(cluster.links, link)
            self._replay(cluster)

    def _find_cluster(self, key: IdKey) -> IdKey:
        parents = self._cluster_of
        root = key
        while parents[root] != root:
            root = parents[root]
        while parents[key] != root:  # path compression
            parents[key], key = root, parents[key]
        return root

    def _replay(self, cluster: _Cluster) -> None:
        members = list(cluster.parent)
        cluster.parent = {m: m for m in members}
        cluster.counts = {m: {m[0]: 1} for m in members}
        cluster.conflicts = []
        for link in cluster.links:
            self._apply(cluster, link)

    def _apply(self, cluster: _Cluster, link: Link) -> None:
        ra, rb = _find(cluster.parent, link.a), _find(cluster.parent, link.b)
        if ra == rb:
            return
        ca, cb = cluster.counts[ra], cluster.counts[rb]
        joined = {kind: ca.get(kind, 0) + cb.get(kind, 0) for kind in ca.keys() | cb.keys()}
        for kind, count in joined.items():
            cap = self.limits.get(kind)
            if cap is not None and count > cap:
                cluster.conflicts.append(Conflict(link, f"a profile may hold at most {cap} {kind}"))
                return
        if sum(joined.values()) > self.max_ids:
            cluster.conflicts.append(Conflict(link, f"a profile may hold at most {self.max_ids} ids"))
            return
        # Union by size keeps find() short.
        if sum(ca.values()) < sum(cb.values()):
            ra, rb = rb, ra
        cluster.parent[rb] = ra
        cluster.counts[ra] = joined
        del cluster.counts[rb]

    # ---- reading --------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return key in self._first_seen

    def first_seen(self, key: IdKey) -> tuple[Instant, int]:
        return self._first_seen[key]

    def component(self, key: IdKey) -> list[IdKey]:
        """Every identifier resolved into the same profile as ``key``."""
        if key not in self._cluster_of:
            return [key]
        cluster = self._clusters[self._find_cluster(key)]
        root = _find(cluster.parent, key)
        return [m for m in cluster.parent if _find(cluster.parent, m) == root]

    def profile_id(self, key: IdKey) -> str:
        return _profile_id(self.component(key), self._first_seen)

    def profiles(self) -> Iterator[tuple[str, list[IdKey]]]:
        """Every profile: its id and its identifiers."""
        for cluster in self._clusters.values():
            groups: dict[IdKey, list[IdKey]] = {}
            for member in cluster.parent:
                groups.setdefault(_find(cluster.parent, member), []).append(member)
            for members in groups.values():
                yield _profile_id(members, self._first_seen), members
        for key in self._first_seen:
            if key not in self._cluster_of:
                yield _profile_id([key], self._first_seen), [key]

    def conflicts(self) -> Iterator[Conflict]:
        for cluster in self._clusters.values():
            yield from cluster.conflicts

    def cluster_keys(self, key: IdKey) -> list[IdKey]:
        """Identifiers whose resolution a link touching ``key`` may change."""
        if key not in self._cluster_of:
            return [key]
        return list(self._clusters[self._find_cluster(key)].parent)


def _find(parent: dict[IdKey, IdKey], key: IdKey) -> IdKey:
    root = key
    while parent[root] != root:
        root = parent[root]
    while parent[key] != root:
        parent[key], key = root, parent[key]
    return root


def _merge_sorted(left: list[Link], right: list[Link]) -> list[Link]:
    if not right:
        return left
    if not left:
        return right
    return sorted(left + right)  # timsort merges two runs in linear time


def _profile_id(members: Iterable[IdKey], first_seen: Mapping[IdKey, tuple[Instant, int]]) -> str:
    users = [m for m in members if m[0] == USER_ID]
    pool = users or [m for m in members if m[0] == ANONYMOUS_ID] or list(members)
    best = min(pool, key=lambda m: (first_seen[m], m))
    return best[1]


def resolve(links: Iterable[Link], observations: Iterable[tuple[IdKey, Instant, int]],
            limits: Mapping[str, int] | None = None, max_ids: int = 1000) -> IdentityGraph:
    """Build a graph from observations and links (in any order)."""
    graph = IdentityGraph(limits, max_ids)
    for key, at, seq in observations:
        graph.observe(key, at, seq)
    for link in sorted(links):
        graph.link(link)
    return graph
