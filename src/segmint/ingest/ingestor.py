"""The one writer of messages: judge, deduplicate and store a staged batch.

``Ingestor.ingest`` runs one transaction: valid messages not seen before go
to ``events`` (numbered by arrival in ``seq``), invalid ones to
``failed_messages`` with their reason, retries are counted and dropped.
When it returns, the batch is durable (DuckDB syncs its write-ahead log on
commit), which is what lets the HTTP collector answer 200 only then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.clock import Clock, SystemClock
from segmint.ingest.dedup import DedupIndex
from segmint.ingest.normalize import normalize_sql
from segmint.ingest.validate import judge

PYTHON_PATH_MAX_ROWS = 5000
from segmint.store.store import Store

# Columns of ``events`` in table order, as produced by the normalise query.
EVENT_COLUMNS = (
    "source", "message_id", "msg_key", "type", "event", "name", "user_id", "anonymous_id",
    "previous_id", "group_id", "event_time", '"timestamp"', "original_timestamp", "sent_at",
    "received_at", "properties", "traits", "context", "integrations", "extra",
)  # fmt: skip


@dataclass(frozen=True)
class Failure:
    """One message that failed validation: its position in the batch and why."""

    ord: int
    reason: str


@dataclass
class IngestResult:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    failures: list[Failure] = field(default_factory=list)
    first_seq: int | None = None
    last_seq: int | None = None
    accepted_ords: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    rows: pa.Table | None = None  # the stored events, when asked for

    @property
    def failed(self) -> int:
        return len(self.failures)

    def merge(self, other: "IngestResult") -> None:
        self.received += other.received
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.failures.extend(other.failures)
        if other.first_seq is not None:
            self.first_seq = other.first_seq if self.first_seq is None else self.first_seq
            self.last_seq = other.last_seq


class Ingestor:
    """Owns the write side of a store's messages. Not thread-safe: one writer."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self._store = store
        self._con = store.cursor()
        self._clock = clock or SystemClock()
        keys = self._con.execute("SELECT msg_key FROM events").fetchnumpy()["msg_key"]
        self._index = DedupIndex(np.asarray(keys, dtype=np.uint64))
        self._next_seq = self._scalar("SELECT coalesce(max(seq), 0) + 1 FROM events")
        self._next_failed = self._scalar("SELECT coalesce(max(id), 0) + 1 FROM failed_messages")

    def _scalar(self, sql: str) -> int:
        rows = self._con.execute(sql).fetchall()
        return int(rows[0][0]) if rows else 0

    @property
    def stored_messages(self) -> int:
        return len(self._index)

    def ingest(
        self, staged: pa.Table, *, want_rows: bool = False, store_failures: bool = True
    ) -> IngestResult:
        """Store one staged batch in one transaction; see the module docstring.

        ``store_failures=False`` is for replaying failed messages: one that
        fails again keeps its original record instead of gaining a copy.
        """
        result = IngestResult(received=staged.num_rows)
        if staged.num_rows == 0:
            return result
        con = self._con
        con.register("staged_in", staged)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                self._judge(con, staged, result)
                self._store_events(con, result, want_rows)
                stored_failures = self._store_failures(con) if store_failures and result.failures else 0
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.unregister("staged_in")
            con.execute("DROP TABLE IF EXISTS temp.normalized")
            con.execute("DROP TABLE IF EXISTS temp.accepted")
        if result.accepted:
            self._index.add(self._accepted_keys)
            self._next_seq += result.accepted
        self._next_failed += stored_failures
        return result

    def _judge(self, con, staged: pa.Table, result: IngestResult) -> None:  # type: ignore[no-untyped-def]
        # Small batches (collector commits) are judged in Python: the SQL
        # path costs ~30 ms of query planning whatever the size. Both paths
        # are held to identical results by tests/ingest/test_validate.py.
        if staged.num_rows <= PYTHON_PATH_MAX_ROWS:
            con.register("judged_in", judge(staged, con))
            source = "judged_in"
        else:
            source = f"({normalize_sql('staged_in')})"
        con.execute(
            f"""
            CREATE TEMP TABLE normalized AS
            SELECT n.*,
                   CASE WHEN reason IS NULL
                        THEN md5_number_lower(source || chr(0) || message_id) END AS msg_key,
                   CASE WHEN reason IS NULL THEN row_number() OVER (
                        PARTITION BY reason IS NULL, source, message_id ORDER BY ord) END AS copy
            FROM {source} AS n
            """
        )
        if source == "judged_in":
            con.unregister("judged_in")
        judged = con.execute(
            "SELECT ord, reason, msg_key, copy FROM normalized ORDER BY ord"
        ).fetchnumpy()
        ords = np.asarray(judged["ord"], dtype=np.int64)
        reasons = judged["reason"]
        valid = np.asarray(pc.is_null(pa.array(reasons)).to_numpy(zero_copy_only=False), dtype=bool)
        first_copy = np.zeros(len(ords), dtype=bool)
        copies = judged["copy"]
        first_copy[valid] = np.asarray(copies[valid], dtype=np.int64) == 1
        keys = np.zeros(len(ords), dtype=np.uint64)
        keys[valid] = np.asarray(judged["msg_key"][valid], dtype=np.uint64)

        candidate = first_copy & self._index.contains(keys)
        seen = self._confirm(con, ords[candidate]) if candidate.any() else np.zeros(0, dtype=np.int64)
        stored_before = np.isin(ords, seen)
        accepted = first_copy & ~stored_before

        result.accepted = int(accepted.sum())
        result.duplicates = int((valid & ~accepted).sum())
        result.failures = [Failure(int(o), str(r)) for o, r in zip(ords[~valid], reasons[~valid])]
        result.accepted_ords = ords[accepted]
        self._accepted_keys = keys[accepted]
        con.register("accepted_in", pa.table({"ord": ords[accepted]}))
        con.execute("CREATE TEMP TABLE accepted AS SELECT ord FROM accepted_in")
        con.unregister("accepted_in")

    def _confirm(self, con, ords: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
        """Of the hash hits, the ones whose exact (source, messageId) is stored."""
        con.register("candidates_in", pa.table({"ord": ords}))
        try:
            found = con.execute(
                """
                SELECT n.ord FROM normalized n
                JOIN candidates_in c USING (ord)
                WHERE EXISTS (
                    SELECT 1 FROM events e
                    WHERE e.msg_key = n.msg_key AND e.source = n.source AND e.message_id = n.message_id)
                """
            ).fetchnumpy()["ord"]
        finally:
            con.unregister("candidates_in")
        return np.asarray(found, dtype=np.int64)

    def _store_events(self, con, result: IngestResult, want_rows: bool) -> None:  # type: ignore[no-untyped-def]
        if not result.accepted:
            return
        columns = ", ".join(EVENT_COLUMNS)
        con.execute(
            f"""
            INSERT INTO events
            SELECT ? + row_number() OVER (ORDER BY ord) - 1 AS seq, {columns}, ? AS ingested_at
            FROM normalized SEMI JOIN accepted USING (ord)
            """,
            [self._next_seq, self._clock.now()],
        )
        result.first_seq = self._next_seq
        result.last_seq = self._next_seq + result.accepted - 1
        if want_rows:
            result.rows = con.sql(
                "SELECT * FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq",
                params=[result.first_seq, result.last_seq],
            ).to_arrow_table()

    def _store_failures(self, con) -> int:  # type: ignore[no-untyped-def]
        # The same invalid message sent again (a retry, a file imported
        # twice) is kept once while it waits for a fix.
        con.execute(
            """
            INSERT INTO failed_messages
                (id, source, received_at, origin, reason, raw, raw_key, user_id, anonymous_id)
            SELECT ? + row_number() OVER (ORDER BY ord) - 1, source, received_at, origin,
                   reason, raw, raw_key, user_id, anonymous_id
            FROM (
                SELECT *, md5_number_lower(source || chr(0) || raw) AS raw_key FROM normalized
                WHERE reason IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY source, raw ORDER BY ord) = 1
            ) AS n
            WHERE NOT EXISTS (
                SELECT 1 FROM failed_messages f
                WHERE f.raw_key = n.raw_key AND f.source = n.source AND f.raw = n.raw
                  AND f.status = 'failed')
            """,
            [self._next_failed],
        )
        return int(con.execute("SELECT count(*) FROM failed_messages WHERE id >= ?", [self._next_failed]).fetchall()[0][0])
