"""Profiles in the store: resolve identities and summarise each person.

``rebuild`` recomputes the store's ``identities``, ``identity_conflicts``
and ``profiles`` tables from the events (all of them, or those up to an
instant). It runs after every import and, debounced, inside the server.
Traits are the latest ``identify`` value of each key across all of a
profile's identifiers, by event time (then arrival ``seq``); a JSON null
unsets a trait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from segmint.config.model import IdentityConfig
from segmint.errors import NotFoundError
from segmint.identity.extract import links_sql, observations_sql
from segmint.identity.components import Identifiers, Links, Resolution, resolve_components
from segmint.identity.graph import IdentityGraph
from segmint.store.store import StoreReader

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def events_as_of(as_of: datetime | None) -> str:
    """The events relation as it was at ``as_of`` (all events for None)."""
    if as_of is None:
        return "events"
    return f"(SELECT * FROM events WHERE event_time <= TIMESTAMPTZ '{as_of.isoformat()}')"


def last_seq(con: duckdb.DuckDBPyConnection) -> int:
    """The arrival number of the latest stored event (0 for none)."""
    return int(con.execute("SELECT coalesce(max(seq), 0) AS last_seq FROM events").fetchnumpy()["last_seq"][0])


def resolve_identities(
    con: duckdb.DuckDBPyConnection,
    identity: IdentityConfig,
    as_of: datetime | None = None,
    upto_seq: int | None = None,
) -> Resolution:
    """Resolve the identity graph from the stored events (up to ``as_of``).

    Identifiers are numbered in SQL and resolved as connected components
    (``components.py``), the ordered graph taking only the clusters that
    break a limit. Only ``con.execute(sql).fetchnumpy()`` is used, so a
    store reached through a server does as well.
    """
    # The two queries below must see the same events, and a running server
    # commits between them: both read up to one arrival number.
    events = f"(SELECT * FROM {events_as_of(as_of)} AS e WHERE seq <= {upto_seq if upto_seq is not None else last_seq(con)})"
    numbered = f"""
        SELECT row_number() OVER (ORDER BY kind, value) - 1 AS id, kind, value,
               epoch_us(first.t) AS at, first.s AS seq
        FROM ({observations_sql(identity, events)})"""
    obs = con.execute(f"SELECT * FROM ({numbered}) ORDER BY id").fetchnumpy()
    links = con.execute(
        f"""WITH ids AS ({numbered}), l AS ({links_sql(identity, events)})
            SELECT a.id AS a, b.id AS b, epoch_us(l.first.t) AS at, l.first.s AS seq
            FROM l JOIN ids a ON a.kind = l.kind_a AND a.value = l.value_a
                   JOIN ids b ON b.kind = l.kind_b AND b.value = l.value_b"""
    ).fetchnumpy()
    ids = Identifiers(
        kinds=np.asarray(obs["kind"], dtype=object),
        values=np.asarray(obs["value"], dtype=object),
        at=np.asarray(obs["at"], dtype=np.int64),
        seq=np.asarray(obs["seq"], dtype=np.int64),
    )
    found = Links(*(np.asarray(links[c], dtype=np.int64) for c in ("a", "b", "at", "seq")))
    return resolve_components(ids, found, identity.limits, identity.max_ids)


def conflict_table(graph: IdentityGraph | Resolution) -> pa.Table:
    rows = [
        (c.link.a[0], c.link.a[1], c.link.b[0], c.link.b[1], c.link.at, c.link.seq, c.reason)
        for c in graph.conflicts()
    ]
    names = ["kind_a", "value_a", "kind_b", "value_b", "event_time", "seq", "reason"]
    columns = list(zip(*rows)) if rows else [[] for _ in names]
    table = pa.table({n: pa.array(list(col)) if rows else pa.array([], pa.string()) for n, col in zip(names, columns)})
    return table.set_column(
        4, "event_time", pa.array(list(columns[4]), pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    ).set_column(5, "seq", pa.array(list(columns[5]), pa.int64()))


PROFILE_EVENTS = """
SELECT e.*, i.profile_id
FROM {events} AS e
JOIN {identities} AS i
  ON i.kind = CASE WHEN e.user_id IS NOT NULL THEN 'user_id' ELSE 'anonymous_id' END
 AND i.value = coalesce(e.user_id, e.anonymous_id)
"""

PROFILE_TRAITS = """
WITH msg AS ({profile_events}),
trait_values AS (
    SELECT msg.profile_id, j.key, j.value, msg.event_time, msg.seq
    FROM msg, json_each(msg.traits) AS j
    WHERE msg.type = 'identify' AND msg.traits IS NOT NULL
),
latest AS (
    SELECT profile_id, key, arg_max(value, struct_pack(t := event_time, s := seq)) AS value
    FROM trait_values GROUP BY profile_id, key
)
SELECT profile_id, json_group_object(key, value) AS traits
FROM latest WHERE json_type(value) <> 'NULL'
GROUP BY profile_id
"""


def rebuild(con: duckdb.DuckDBPyConnection, identity: IdentityConfig) -> Resolution:
    """Recompute identities, conflicts and profiles from all stored events.

    All from the events stored when it starts: a running server keeps
    committing meanwhile, and what it adds waits for the next rebuild.
    """
    upto = last_seq(con)
    graph = resolve_identities(con, identity, upto_seq=upto)
    ids = graph.identity_table()
    conflicts = conflict_table(graph)
    con.register("ids_in", ids)
    con.register("conflicts_in", conflicts)
    profile_events = PROFILE_EVENTS.format(events=f"(SELECT * FROM events WHERE seq <= {upto})", identities="identities")
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM identities")
        con.execute("INSERT INTO identities SELECT * FROM ids_in")
        con.execute("DELETE FROM identity_conflicts")
        con.execute("INSERT INTO identity_conflicts SELECT * FROM conflicts_in")
        con.execute("DELETE FROM profiles")
        con.execute(
            f"""
            INSERT INTO profiles
            WITH stats AS (
                SELECT profile_id, min(event_time) AS first_seen, max(event_time) AS last_seen,
                       count(*) AS messages
                FROM ({profile_events}) GROUP BY profile_id
            ),
            users AS (
                SELECT profile_id, min(value) AS user_id FROM identities
                WHERE kind = 'user_id' GROUP BY profile_id
            ),
            traits AS ({PROFILE_TRAITS.format(profile_events=profile_events)})
            SELECT s.profile_id, u.user_id, s.first_seen, s.last_seen, s.messages,
                   coalesce(t.traits, '{{}}'::JSON)
            FROM stats s LEFT JOIN users u USING (profile_id) LEFT JOIN traits t USING (profile_id)
            """
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("ids_in")
        con.unregister("conflicts_in")
    return graph


def refresh(store: Any, identity: IdentityConfig) -> None:
    """Bring a store's profile tables up to date: here, or by the server that holds it."""
    if hasattr(store, "rebuild_profiles"):
        store.rebuild_profiles()
    else:
        rebuild(store.connection, identity)


@dataclass(frozen=True)
class ProfileView:
    """A profile as the store knows it, for ``segmint profiles show``."""

    id: str
    ids: dict[str, list[str]]
    traits: dict[str, Any]
    first_seen: datetime | None
    last_seen: datetime | None
    messages: int
    conflicts: list[dict[str, Any]]
    recent_events: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ids": self.ids,
            "traits": self.traits,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "messages": self.messages,
            "conflicts": self.conflicts,
            "recent_events": self.recent_events,
        }


def find_profile(store: StoreReader, any_id: str, recent: int = 10) -> ProfileView:
    """The profile that holds ``any_id`` (a userId, anonymousId, email, ...)."""
    found = store.query(
        "SELECT DISTINCT profile_id FROM identities WHERE value = ? OR profile_id = ?", [any_id, any_id]
    ).column("profile_id").to_pylist()
    if not found:
        raise NotFoundError(f"no profile has the id {any_id!r}")
    profile_id = found[0]
    members = store.query(
        "SELECT kind, value FROM identities WHERE profile_id = ? ORDER BY kind, first_seen, value", [profile_id]
    ).to_pylist()
    ids: dict[str, list[str]] = {}
    for row in members:
        ids.setdefault(row["kind"], []).append(row["value"])
    summary = store.query("SELECT * FROM profiles WHERE profile_id = ?", [profile_id]).to_pylist()
    row = summary[0] if summary else {}
    values = [m["value"] for m in members]
    conflicts = store.query(
        """SELECT kind_a, value_a, kind_b, value_b, event_time, reason FROM identity_conflicts
           WHERE value_a IN (SELECT unnest(?)) OR value_b IN (SELECT unnest(?)) ORDER BY event_time""",
        [values, values],
    ).to_pylist()
    events = store.query(
        f"""SELECT event_time, type, coalesce(event, name) AS name, seq FROM ({PROFILE_EVENTS.format(events='events', identities='identities')})
            WHERE profile_id = ? ORDER BY event_time DESC, seq DESC LIMIT ?""",
        [profile_id, recent],
    ).to_pylist()
    traits = row.get("traits")
    return ProfileView(
        id=profile_id,
        ids=ids,
        traits=orjson.loads(traits) if isinstance(traits, str) else (traits or {}),
        first_seen=row.get("first_seen"),
        last_seen=row.get("last_seen"),
        messages=int(row.get("messages") or 0),
        conflicts=conflicts,
        recent_events=events,
    )
