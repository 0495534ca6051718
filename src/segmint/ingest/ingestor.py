"""The one writer of messages: judge, deduplicate and store a staged batch.

``Ingestor.ingest`` runs one transaction: valid messages not seen before go
to ``events`` (numbered by arrival in ``seq``), invalid ones to
``failed_messages`` with their reason, retries are counted and dropped.
When it returns, the batch is durable (DuckDB syncs its write-ahead log on
commit), which is what lets the HTTP collector answer 200 only then.

Judging has two implementations of the same rules (see ``validate.py``):
SQL for bulk imports, Python for the collector's small commits. Everything
after judging is shared and works on one Arrow table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.clock import Clock, SystemClock
from segmint.ingest.dedup import DedupIndex
from segmint.ingest.normalize import normalize_sql
from segmint.ingest.validate import judge
from segmint.store.store import Store

# Below this many messages the Python path is faster (no query planning).
PYTHON_PATH_MAX_ROWS = 5000

# Columns of ``events`` in table order.
EVENT_COLUMNS = (
    "seq", "source", "message_id", "msg_key", "msg_key_hi", "type", "event", "name", "user_id", "anonymous_id",
    "previous_id", "group_id", "event_time", "timestamp", "original_timestamp", "sent_at",
    "received_at", "properties", "traits", "context", "integrations", "extra", "ingested_at",
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
    rows: pa.Table | None = None  # the stored events (JSON columns as text), when asked for

    @property
    def failed(self) -> int:
        return len(self.failures)


def normalize_staged(con: duckdb.DuckDBPyConnection, staged: pa.Table) -> pa.Table:
    """Judge and normalise a staged batch (columns as in ``normalize_sql``)."""
    # Small batches (collector commits) are judged in Python: the SQL path
    # costs ~30 ms of query planning whatever the size. Both paths are held
    # to identical results by tests/ingest/test_validate.py.
    if staged.num_rows <= PYTHON_PATH_MAX_ROWS:
        return judge(staged, con)
    con.register("staged_in", staged)
    try:
        return con.sql(normalize_sql("staged_in")).to_arrow_table()
    finally:
        con.unregister("staged_in")


def valid_mask(normalized: pa.Table) -> np.ndarray:
    return np.asarray(pc.is_null(normalized.column("reason")).to_numpy(zero_copy_only=False), dtype=bool)


def first_copies(normalized: pa.Table, valid: np.ndarray) -> np.ndarray:
    """Valid messages that are the first of their (source, messageId) in the batch."""
    positions = pa.table(
        {
            "source": normalized.column("source"),
            "message_id": normalized.column("message_id"),
            "pos": pa.array(np.arange(normalized.num_rows), pa.int64()),
        }
    ).filter(pa.array(valid))
    firsts = positions.group_by(["source", "message_id"], use_threads=False).aggregate([("pos", "min")])
    first = np.zeros(normalized.num_rows, dtype=bool)
    first[firsts.column("pos_min").to_numpy()] = True
    return first


class Ingestor:
    """Owns the write side of a store's messages. Not thread-safe: one writer."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self._con = store.cursor()
        self._clock = clock or SystemClock()
        keys = self._con.execute("SELECT msg_key, msg_key_hi FROM events").fetchnumpy()
        self._index = DedupIndex(keys["msg_key"], keys["msg_key_hi"])
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
        normalized = normalize_staged(con, staged)
        valid = valid_mask(normalized)
        ords = normalized.column("ord").to_numpy()
        low = normalized.column("msg_key").fill_null(0).to_numpy().astype(np.uint64)
        high = normalized.column("msg_key_hi").fill_null(0).to_numpy().astype(np.uint64)
        accepted = first_copies(normalized, valid)
        accepted &= ~self._index.contains(low, high)

        reasons = normalized.column("reason").to_pylist()
        result.failures = [Failure(int(ords[i]), reasons[i]) for i in np.flatnonzero(~valid)]
        result.accepted = int(accepted.sum())
        result.duplicates = int(valid.sum()) - result.accepted
        result.accepted_ords = ords[accepted]
        rows = self._event_rows(normalized, accepted) if result.accepted else None
        stored_failures = 0
        con.execute("BEGIN TRANSACTION")
        try:
            if rows is not None:
                con.register("event_rows", rows)
                con.execute("INSERT INTO events SELECT * FROM event_rows")
            if store_failures and result.failures:
                stored_failures = self._store_failures(normalized.filter(pa.array(~valid)))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            if rows is not None:
                con.unregister("event_rows")
        if rows is not None:
            self._index.add(low[accepted], high[accepted])
            result.first_seq = self._next_seq
            result.last_seq = self._next_seq + result.accepted - 1
            self._next_seq += result.accepted
            if want_rows:
                result.rows = rows
        self._next_failed += stored_failures
        return result


    def _event_rows(self, normalized: pa.Table, accepted: np.ndarray) -> pa.Table:
        rows = normalized.filter(pa.array(accepted))
        count = rows.num_rows
        extra = {
            "seq": pa.array(np.arange(self._next_seq, self._next_seq + count), pa.int64()),
            "ingested_at": pa.repeat(pa.scalar(self._clock.now(), pa.timestamp("us", tz="UTC")), count),
        }
        return pa.table({name: extra[name] if name in extra else rows.column(name) for name in EVENT_COLUMNS})

    def _store_failures(self, failed: pa.Table) -> int:
        # The same invalid message sent again (a retry, a file imported
        # twice) is kept once while it waits for a fix.
        con = self._con
        con.register("failed_in", failed)
        try:
            con.execute(
                """
                INSERT INTO failed_messages
                    (id, source, received_at, origin, reason, raw, raw_key, user_id, anonymous_id)
                SELECT ? + row_number() OVER (ORDER BY ord) - 1, source, received_at, origin,
                       reason, raw, raw_key, user_id, anonymous_id
                FROM (
                    SELECT *, md5_number_lower(source || chr(0) || raw) AS raw_key FROM failed_in
                    QUALIFY row_number() OVER (PARTITION BY source, raw ORDER BY ord) = 1
                ) AS n
                WHERE NOT EXISTS (
                    SELECT 1 FROM failed_messages f
                    WHERE f.raw_key = n.raw_key AND f.source = n.source AND f.raw = n.raw
                      AND f.status = 'failed')
                """,
                [self._next_failed],
            )
        finally:
            con.unregister("failed_in")
        return self._scalar_in_tx("SELECT count(*) FROM failed_messages WHERE id >= ?", self._next_failed)

    def _scalar_in_tx(self, sql: str, param: int) -> int:
        return int(self._con.execute(sql, [param]).fetchall()[0][0])
