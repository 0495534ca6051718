"""The store's schema, as a list of numbered migrations.

A store records its ``schema_version``; opening a store made by an older
segmint applies the missing migrations in place, each in its own
transaction, so a crash mid-upgrade leaves the store at the last version
that completed.

Personal data lives only in tables that carry ``user_id`` and
``anonymous_id`` columns (or an identifier ``kind``/``value`` pair), so that
everything about one person can be found and erased by their ids.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def _v1_messages(con: duckdb.DuckDBPyConnection) -> None:
    """Accepted messages and failed messages."""
    con.execute(
        """
        CREATE TABLE events (
            seq BIGINT NOT NULL,              -- arrival order across all sources
            source VARCHAR NOT NULL,
            message_id VARCHAR NOT NULL,
            msg_key UBIGINT NOT NULL,         -- md5(source, message_id), low 64 bits: deduplication
            msg_key_hi UBIGINT NOT NULL,      -- and high 64 bits
            type VARCHAR NOT NULL,            -- track, identify, page, screen, group, alias
            event VARCHAR,                    -- track: the event name
            name VARCHAR,                     -- page, screen: the page name
            user_id VARCHAR,
            anonymous_id VARCHAR,
            previous_id VARCHAR,              -- alias
            group_id VARCHAR,                 -- group
            event_time TIMESTAMPTZ NOT NULL,  -- derived by the Segment rules
            "timestamp" TIMESTAMPTZ,
            original_timestamp TIMESTAMPTZ,
            sent_at TIMESTAMPTZ,
            received_at TIMESTAMPTZ NOT NULL,
            properties JSON,
            traits JSON,
            context JSON,
            integrations JSON,
            extra JSON,                       -- every other top-level key, as sent
            ingested_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE failed_messages (
            id BIGINT NOT NULL,
            source VARCHAR NOT NULL,
            received_at TIMESTAMPTZ NOT NULL,
            origin VARCHAR,                   -- e.g. POST /v1/batch, or file:line
            reason VARCHAR NOT NULL,
            raw VARCHAR NOT NULL,             -- the message exactly as received
            raw_key UBIGINT NOT NULL,         -- hash of (source, raw): a retry is kept once
            user_id VARCHAR,                  -- best effort, so erasure finds it
            anonymous_id VARCHAR,
            status VARCHAR NOT NULL DEFAULT 'failed',   -- failed | replayed
            replayed_at TIMESTAMPTZ
        )
        """
    )


def _v2_identity(con: duckdb.DuckDBPyConnection) -> None:
    """The resolved identity graph, refused joins, and profile summaries."""
    con.execute(
        """
        CREATE TABLE identities (
            kind VARCHAR NOT NULL,            -- user_id, anonymous_id, or a configured identifier
            value VARCHAR NOT NULL,
            profile_id VARCHAR NOT NULL,
            first_seen TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE identity_conflicts (
            kind_a VARCHAR NOT NULL, value_a VARCHAR NOT NULL,
            kind_b VARCHAR NOT NULL, value_b VARCHAR NOT NULL,
            event_time TIMESTAMPTZ NOT NULL,
            seq BIGINT NOT NULL,
            reason VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE profiles (
            profile_id VARCHAR NOT NULL,
            user_id VARCHAR,
            first_seen TIMESTAMPTZ NOT NULL,
            last_seen TIMESTAMPTZ NOT NULL,
            messages BIGINT NOT NULL,
            traits JSON NOT NULL
        )
        """
    )


def _v3_segments(con: duckdb.DuckDBPyConnection) -> None:
    """Segment memberships over time, evaluation status, real-time snapshots."""
    con.execute(
        """
        CREATE TABLE segment_history (
            segment VARCHAR NOT NULL,
            profile_id VARCHAR NOT NULL,
            entered BOOLEAN NOT NULL,         -- true: entry, false: exit
            changed_at TIMESTAMPTZ NOT NULL,  -- the instant of the change
            recorded_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE segment_status (
            segment VARCHAR NOT NULL,
            status VARCHAR NOT NULL,          -- ok | error
            last_error VARCHAR,
            evaluated_at TIMESTAMPTZ,         -- last successful evaluation
            failed_at TIMESTAMPTZ,
            members BIGINT,
            definition VARCHAR                -- the definition as evaluated (JSON)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE realtime_snapshots (
            taken_at TIMESTAMPTZ NOT NULL,
            last_seq BIGINT NOT NULL,         -- every event up to here is in the state
            definitions VARCHAR NOT NULL,     -- fingerprint of the definitions
            state BLOB NOT NULL
        )
        """
    )


def _v4_models(con: duckdb.DuckDBPyConnection) -> None:
    """The model registry: every fitted model (clustering, churn, CLV, ...) by name and version."""
    con.execute(
        """
        CREATE TABLE models (
            name VARCHAR NOT NULL,            -- e.g. churn, propensity, clusters
            version INTEGER NOT NULL,         -- 1, 2, ... per name
            kind VARCHAR NOT NULL,            -- what trained it, e.g. lightgbm-classifier, kmeans
            trained_at TIMESTAMPTZ NOT NULL,
            window_start TIMESTAMPTZ,         -- the training window (event time)
            window_end TIMESTAMPTZ,
            features JSON NOT NULL,           -- the feature names, in order
            metrics JSON NOT NULL,            -- evaluation figures
            params JSON NOT NULL,             -- settings and learned summary values
            status VARCHAR NOT NULL,          -- active | stale | retired
            artifact BLOB NOT NULL            -- the fitted object, serialised
        )
        """
    )


MIGRATIONS: tuple[Migration, ...] = (_v1_messages, _v2_identity, _v3_segments, _v4_models)
SCHEMA_VERSION = len(MIGRATIONS)

# Tables that hold personal data, and the columns that name the person.
PERSONAL_DATA: dict[str, tuple[str, ...]] = {
    "events": ("user_id", "anonymous_id", "previous_id"),
    "failed_messages": ("user_id", "anonymous_id"),
    "identities": ("value",),
    "identity_conflicts": ("value_a", "value_b"),
    "profiles": ("profile_id", "user_id"),
    "segment_history": ("profile_id",),
    "realtime_snapshots": ("state",),  # opaque: dropped and rebuilt on erasure
}


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'segmint_meta'"
    ).fetchall()
    if not exists[0][0]:
        return 0
    rows = con.execute("SELECT value FROM segmint_meta WHERE key = 'schema_version'").fetchall()
    return int(rows[0][0]) if rows else 0


def migrate(con: duckdb.DuckDBPyConnection, target: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Bring the store to ``target``; returns (version before, version after)."""
    before = current_version(con)
    if before > SCHEMA_VERSION:
        from segmint.errors import StoreError

        raise StoreError(
            f"the store has schema version {before}, newer than this segmint understands "
            f"({SCHEMA_VERSION}); upgrade segmint"
        )
    for version in range(before + 1, target + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            if version == 1:
                con.execute("CREATE TABLE segmint_meta (key VARCHAR NOT NULL, value VARCHAR NOT NULL)")
            MIGRATIONS[version - 1](con)
            con.execute("DELETE FROM segmint_meta WHERE key = 'schema_version'")
            con.execute("INSERT INTO segmint_meta VALUES ('schema_version', ?)", [str(version)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return before, max(before, target)
