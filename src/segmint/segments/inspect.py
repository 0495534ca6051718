"""Looking into segments: why a profile is in one, how sizes moved, statuses.

Functions over a :class:`StoreReader`, so they work on a local store and
through a running server alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from segmint.config.model import IdentityConfig
from segmint.errors import NotFoundError
from segmint.segments.parse import LoadedSegments
from segmint.store.store import StoreReader


def profile_cluster(store: StoreReader, any_id: str) -> tuple[str, list[str]]:
    """The profile holding ``any_id`` and every identifier its resolution can depend on.

    That is the profile's own identifiers plus those of every profile a
    refused join ties it to (transitively): the order of those joins
    decides who holds a shared identifier.
    """
    found = store.query(
        "SELECT DISTINCT profile_id FROM identities WHERE value = ? OR profile_id = ?", [any_id, any_id]
    ).column("profile_id").to_pylist()
    if not found:
        raise NotFoundError(f"no profile has the id {any_id!r}")
    profiles = {found[0]}
    while True:
        ids = store.query(
            "SELECT DISTINCT value FROM identities WHERE profile_id IN (SELECT unnest(?))", [sorted(profiles)]
        ).column("value").to_pylist()
        tied = store.query(
            """SELECT DISTINCT i.profile_id FROM identity_conflicts c
               JOIN identities i ON i.value IN (c.value_a, c.value_b)
               WHERE c.value_a IN (SELECT unnest(?)) OR c.value_b IN (SELECT unnest(?))""",
            [ids, ids],
        ).column("profile_id").to_pylist()
        if set(tied) <= profiles:
            return found[0], ids
        profiles |= set(tied)


def explain(
    store: StoreReader,
    segments: LoadedSegments,
    identity: IdentityConfig,
    any_id: str,
    segment: str,
    as_of: datetime,
) -> dict[str, Any]:
    """Which conditions held for the profile at ``as_of``, and which events made them hold."""
    from segmint.segments.realtime import RealtimeEvaluator

    if segment not in segments.definitions:
        problems = segments.errors_of(segment)
        raise NotFoundError(str(problems[0]) if problems else f"no segment named {segment!r}")
    profile_id, ids = profile_cluster(store, any_id)
    events = store.query(
        """SELECT * FROM events
           WHERE event_time <= ? AND (user_id IN (SELECT unnest(?)) OR anonymous_id IN (SELECT unnest(?))
                                      OR previous_id IN (SELECT unnest(?)))
           ORDER BY seq""",
        [as_of, ids, ids, ids],
    )
    evaluator = RealtimeEvaluator(segments, identity)
    evaluator.feed(events.to_pylist())
    evaluator.advance(as_of)
    return evaluator.explain(profile_id, segment)


def sizes_over_time(store: StoreReader, segment: str, every: str = "1 day") -> list[dict[str, Any]]:
    """The segment's size at the end of each period, from the membership history."""
    rows = store.query(
        f"""WITH changes AS (
                SELECT time_bucket(INTERVAL '{every}', changed_at) AS period,
                       sum(CASE WHEN entered THEN 1 ELSE -1 END) AS delta,
                       count(*) FILTER (WHERE entered) AS entries,
                       count(*) FILTER (WHERE NOT entered) AS exits
                FROM segment_history WHERE segment = ? GROUP BY period)
            SELECT period, entries, exits, (sum(delta) OVER (ORDER BY period))::BIGINT AS size
            FROM changes ORDER BY period""",
        [segment],
    )
    return rows.to_pylist()


def statuses(store: StoreReader) -> dict[str, dict[str, Any]]:
    try:
        table: pa.Table = store.query("SELECT * FROM segment_status")
    except Exception:  # an old store without the table: nothing recorded yet
        return {}
    return {row["segment"]: row for row in table.to_pylist()}
