"""Profiles kept current in memory, for the server's millisecond reads.

Fed with every committed batch (and, at start, with the whole store), using
the same SQL extraction as the batch rebuild, so both see the same ids,
links and traits.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from segmint.config.model import IdentityConfig
from segmint.identity.extract import message_ids, message_ids_sql
from segmint.identity.graph import IdentityGraph, IdKey, Link

TraitValue = tuple[int, int, Any]  # (event time in µs, seq, value)


class LiveProfiles:
    def __init__(self, identity: IdentityConfig) -> None:
        self._identity = identity
        self.graph = IdentityGraph(identity.limits, identity.max_ids)
        self._traits: dict[IdKey, dict[str, TraitValue]] = defaultdict(dict)
        self._by_value: dict[str, set[IdKey]] = defaultdict(set)
        self._first_links: dict[tuple[IdKey, IdKey], tuple[int, int]] = {}
        self._lock = threading.RLock()

    def load(self, con: duckdb.DuckDBPyConnection, relation: str = "events") -> None:
        """Take in every message of ``relation`` (e.g. the store's events)."""
        self._take(con, relation)

    def apply(self, rows: pa.Table | list[dict[str, Any]]) -> None:
        """Take in newly committed events (rows of the ``events`` table, as Arrow or dicts).

        Per message in Python (a commit is small; a SQL query would cost
        more to plan than to run), with the same rules as the SQL used by
        :meth:`load` and the batch rebuild.
        """
        if isinstance(rows, pa.Table):
            if not self._identity.identifiers:
                self._apply_columns(rows)
                return
            wanted = ["seq", "type", "event_time", "user_id", "anonymous_id", "previous_id", "traits",
                      "properties", "context"]  # fmt: skip
            rows = rows.select(wanted).to_pylist()
        with self._lock:
            for row in rows:
                at = _micros(row["event_time"])
                seq = row["seq"]
                primary, carried = message_ids(row, self._identity)
                for key in carried:
                    self._by_value[key[1]].add(key)
                    if key == primary:
                        self.graph.observe(primary, at, seq)
                    else:
                        self._link(at, seq, primary, key)
                if row["type"] == "identify" and row["traits"] is not None:
                    traits = row["traits"]
                    self._set_traits(primary, orjson.loads(traits) if isinstance(traits, str) else traits, at, seq)

    def _apply_columns(self, rows: pa.Table) -> None:
        """:meth:`apply` for Arrow rows when only user and anonymous ids identify (message_ids' rules)."""
        column = rows.column
        ats = column("event_time").cast(pa.int64()).to_pylist()
        columns = zip(ats, column("seq").to_pylist(), column("type").to_pylist(), column("user_id").to_pylist(),
                      column("anonymous_id").to_pylist(), column("previous_id").to_pylist(),
                      column("traits").to_pylist())  # fmt: skip
        by_value, observe, link = self._by_value, self.graph.observe, self._link
        with self._lock:
            for at, seq, kind, user, anonymous, previous, traits in columns:
                if user is not None:
                    primary = ("user_id", user)
                    by_value[user].add(primary)
                    observe(primary, at, seq)
                    if anonymous is not None:
                        other = ("anonymous_id", anonymous)
                        by_value[anonymous].add(other)
                        link(at, seq, primary, other)
                else:
                    primary = ("anonymous_id", anonymous)
                    by_value[anonymous].add(primary)
                    observe(primary, at, seq)
                if kind == "alias" and previous is not None:
                    other = ("anonymous_id", previous)
                    by_value[previous].add(other)
                    if other != primary:
                        link(at, seq, primary, other)
                    else:
                        observe(primary, at, seq)
                if kind == "identify" and traits is not None:
                    self._set_traits(primary, orjson.loads(traits), at, seq)

    def _link(self, at: int, seq: int, a: IdKey, b: IdKey) -> None:
        # Only a link's first appearance matters (see extract.links_sql): a
        # later copy of one already applied changes nothing, so it is not
        # stored again; an earlier copy is applied (and replays its cluster).
        first = self._first_links.get((a, b))
        if first is not None and first <= (at, seq):
            return
        self._first_links[(a, b)] = (at, seq)
        self.graph.link(Link(at, seq, a, b))

    def _set_traits(self, key: IdKey, traits: dict[str, Any], at: int, seq: int) -> None:
        book = self._traits[key]
        for name, value in traits.items():
            current = book.get(name)
            if current is None or (current[0], current[1]) < (at, seq):
                book[name] = (at, seq, value)

    def _take(self, con: duckdb.DuckDBPyConnection, relation: str) -> None:
        ids = con.execute(
            f"""SELECT p_kind, p_value, kind, value, epoch_us(at_time) AS at_us, seq
                FROM ({message_ids_sql(self._identity, relation)}) ORDER BY at_us, seq"""
        ).fetchall()
        traits = con.execute(
            f"""SELECT CASE WHEN e.user_id IS NOT NULL THEN 'user_id' ELSE 'anonymous_id' END,
                       coalesce(e.user_id, e.anonymous_id), j.key, j.value, epoch_us(e.event_time), e.seq
                FROM {relation} AS e, json_each(e.traits) AS j
                WHERE e.type = 'identify' AND e.traits IS NOT NULL"""
        ).fetchall()
        with self._lock:
            for p_kind, p_value, kind, value, at, seq in ids:
                primary, other = (p_kind, p_value), (kind, value)
                self._by_value[value].add(other)
                if primary == other:
                    self.graph.observe(primary, at, seq)
                else:
                    self._link(at, seq, primary, other)
            for kind, value, key, text, at, seq in traits:
                self._set_traits((kind, value), {key: orjson.loads(text)}, at, seq)

    def find(self, any_id: str) -> IdKey | None:
        """The identifier with this value (user ids first, then anonymous ids, ...)."""
        with self._lock:
            keys = self._by_value.get(any_id)
            if not keys:
                return None
            order = {"user_id": 0, "anonymous_id": 1}
            return min(keys, key=lambda k: (order.get(k[0], 2), k))

    def profile(self, key: IdKey) -> dict[str, Any]:
        """The profile holding ``key``: id, ids by kind, and traits."""
        with self._lock:
            members = self.graph.component(key)
            ids: dict[str, list[str]] = {}
            for kind, value in sorted(members, key=lambda m: (m[0], self.graph.first_seen(m), m[1])):
                ids.setdefault(kind, []).append(value)
            latest: dict[str, TraitValue] = {}
            for member in members:
                for name, candidate in self._traits.get(member, {}).items():
                    current = latest.get(name)
                    if current is None or (current[0], current[1]) < (candidate[0], candidate[1]):
                        latest[name] = candidate
            traits = {name: value for name, (_, _, value) in latest.items() if value is not None}
            return {"id": self.graph.profile_id(key), "ids": ids, "traits": traits}


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly as DuckDB's epoch_us."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
