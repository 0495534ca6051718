"""The one writer of messages: judge, deduplicate and store a staged batch.

``Ingestor.ingest`` runs one transaction: valid messages not seen before go
to ``events`` (numbered by arrival in ``seq``), invalid ones to
``failed_messages`` with their reason, retries are counted and dropped.
When it returns, the batch is durable (DuckDB syncs its write-ahead log on
commit), which is what lets the HTTP collector answer 200 only then.

Judging has two implementations of the same rules (see ``validate.py``):
SQL for bulk imports, Python for the collector's small commits. A small
batch, judged, is deduplicated and inserted from Arrow (``prepare`` and
``commit``, which the collector pipelines); a large one is judged and
inserted by one statement and never comes back to Python (``bulk.py``).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.clock import Clock, SystemClock
from segmint.ingest.dedup import DedupIndex
from segmint.ingest.normalize import normalize_sql
from segmint.ingest.bulk import (
    BulkChecks,
    Numbering,
    any_row_order,
    close_gaps,
    later_copies,
    later_copies_sql,
    rising,
    stored_numbers,
)
from segmint.ingest.validate import judge
from segmint.errors import StoreError
from segmint.store.store import Store

# Below this many messages the Python path is faster (no query planning).
PYTHON_PATH_MAX_ROWS = 5000

# Columns of ``events`` in table order.
EVENT_COLUMNS = (
    "seq", "source", "message_id", "msg_key", "msg_key_hi", "type", "event", "name", "user_id", "anonymous_id",
    "previous_id", "group_id", "event_time", "timestamp", "original_timestamp", "sent_at",
    "received_at", "properties", "traits", "context", "integrations", "extra", "ingested_at",
)  # fmt: skip


JSON_COLUMNS = ("properties", "traits", "context", "integrations", "extra")


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


@dataclass
class PendingCommit:
    """A batch inserted by :meth:`Ingestor.prepare`, its transaction still open."""

    result: IngestResult
    con: duckdb.DuckDBPyConnection | None  # None: nothing was written (all retries)
    low: np.ndarray  # the accepted keys, reserved in the dedup index until the commit
    high: np.ndarray
    first_seq: int
    first_failed: int
    aborted: bool = False  # a batch before it failed to commit: rolled back, never committed


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
    """Valid messages that are the first (lowest ``ord``) of their deduplication key in the batch."""
    ords = normalized.column("ord").to_numpy()
    low = normalized.column("msg_key").fill_null(0).to_numpy().astype(np.uint64)
    high = normalized.column("msg_key_hi").fill_null(0).to_numpy().astype(np.uint64)
    rows = np.flatnonzero(valid)
    rows = rows[np.argsort(ords[rows], kind="stable")]
    first = np.zeros(len(ords), dtype=bool)
    first[rows[~later_copies(low[rows], high[rows])]] = True
    return first


class Ingestor:
    """Owns the write side of a store's messages: one writer.

    Only :meth:`prepare` and :meth:`commit` may run on two threads at once
    (the collector's pipeline), and :attr:`stored_messages` may be read from
    any; the rest expects the writer's thread alone.
    """

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self._con = store.cursor()
        self._clock = clock or SystemClock()
        keys = self._con.execute("SELECT msg_key, msg_key_hi FROM events").fetchnumpy()
        self._index = DedupIndex(keys["msg_key"], keys["msg_key_hi"])
        # The rows the last bulk insert stored, from this seq on, not yet in the index: read
        # in when the index is next asked, which an import of one file never does.
        self._unindexed: tuple[int, int] | None = None  # (first seq, count)
        self._next_seq = self._scalar("SELECT coalesce(max(seq), 0) + 1 FROM events")
        self._next_failed = self._scalar("SELECT coalesce(max(id), 0) + 1 FROM failed_messages")
        # prepare() runs on one thread and commit() on another (server/committer.py)
        self._state = threading.Lock()
        self._in_flight: list[PendingCommit] = []  # prepared, not yet committed, oldest first

    def _scalar(self, sql: str) -> int:
        rows = self._con.execute(sql).fetchall()
        return int(rows[0][0]) if rows else 0

    @property
    def stored_messages(self) -> int:
        with self._state:  # the server's health check asks from another thread
            return len(self._index) + (self._unindexed[1] if self._unindexed else 0)

    def _catch_up(self) -> None:
        """Bring the index up to date with the rows of the last bulk insert (writer side only)."""
        with self._state:
            if self._unindexed is None:
                return
            keys = self._con.execute(
                "SELECT msg_key, msg_key_hi FROM events WHERE seq >= ?", [self._unindexed[0]]
            ).fetchnumpy()
            self._index.add(np.asarray(keys["msg_key"], dtype=np.uint64), np.asarray(keys["msg_key_hi"], dtype=np.uint64))
            self._unindexed = None

    def ingest(
        self, staged: pa.Table, *, want_rows: bool = False, store_failures: bool = True
    ) -> IngestResult:
        """Store one staged batch in one transaction; see the module docstring.

        ``store_failures=False`` is for replaying failed messages: one that
        fails again keeps its original record instead of gaining a copy.
        """
        if staged.num_rows == 0:
            return IngestResult()
        if staged.num_rows > PYTHON_PATH_MAX_ROWS and not want_rows:
            in_order = staged.take(pc.sort_indices(staged.column("ord"))) if not rising(staged) else staged
            return self._ingest_in_sql(lambda: [in_order], store_failures)
        return self.ingest_judged(
            normalize_staged(self._con, staged), want_rows=want_rows, store_failures=store_failures
        )

    def ingest_stream(self, chunks: Callable[[], Iterable[pa.Table]], *, store_failures: bool = True) -> IngestResult:
        """Store a stream of staged tables (a file, read a block at a time) in one transaction.

        ``chunks`` gives the stream, and gives it again, the same, if the
        failures must be read (see :meth:`_ingest_in_sql`); the ``ord`` of
        its rows must rise across the whole stream. DuckDB reads the
        stream while it judges and inserts, so reading the next block
        overlaps storing the last, and the file is one statement however
        many blocks it has.
        """
        stream = iter(chunks())
        first = next(stream, None)
        if first is None:
            return IngestResult()
        begun = [first]
        if first.num_rows <= PYTHON_PATH_MAX_ROWS:  # perhaps a small file, judged in Python
            second = next(stream, None)
            if second is None:
                return self.ingest(first, store_failures=store_failures)
            begun.append(second)
        opened = [itertools.chain(begun, stream)]

        def again() -> Iterable[pa.Table]:
            return opened.pop() if opened else chunks()  # the stream begun here first, then anew

        return self._ingest_in_sql(again, store_failures)

    def _ingest_in_sql(self, chunks: Callable[[], Iterable[pa.Table]], store_failures: bool) -> IngestResult:
        """:meth:`ingest` for large batches, and :meth:`ingest_stream`: the messages never come back to Python.

        One statement judges and normalises the messages and inserts the
        valid ones the deduplication index does not hold straight into
        ``events``: nothing is materialised in between, and DuckDB writes
        the rows while it parses them. DuckDB asks the index through a
        function (``BulkChecks``), a chunk of keys at a time. Then, in the
        same transaction and only when the numbers call for it:

        - copies of one message within the batch (each new to the index,
          so all inserted) are cut to the first;
        - the stored rows are numbered again without gaps (each row was
          inserted under a number from its position in the stream);
        - if any message was invalid, the stream is judged again for the
          failures and their reasons.

        tests/ingest/test_ingestor.py holds the result to the Arrow path's.
        """
        con = self._con
        if self._in_flight:
            raise RuntimeError("a bulk ingest needs the writer to itself: batches are still in flight")
        self._catch_up()
        first_seq = self._next_seq
        columns = ", ".join("?::TIMESTAMPTZ" if name == "ingested_at" else f'"{name}"' for name in EVENT_COLUMNS)
        stored_failures = 0
        numbering = Numbering(first_seq)
        readings = [numbering]
        with BulkChecks.registered(con, self._index) as checks:
            judged = normalize_sql(checks.staged, carry=("seq",))
            con.execute("BEGIN TRANSACTION")
            try:
                con.register(checks.staged, numbering.reader(chunks()))
                with any_row_order(con):
                    con.execute(
                        f"""INSERT INTO events SELECT {columns} FROM ({judged}) WHERE CASE WHEN reason IS NULL
                            THEN {checks.is_new}(msg_key, msg_key_hi) ELSE {checks.failed_function}(ord) END""",
                        [self._clock.now()],
                    )
                con.unregister(checks.staged)
                result = IngestResult(received=numbering.rows)
                later = later_copies_sql(con, first_seq)
                if len(later):
                    con.execute("DELETE FROM events WHERE seq >= ? AND list_contains(?, seq)", [first_seq, later.tolist()])
                stored_seq = stored_numbers(con, first_seq)
                close_gaps(con, stored_seq, first_seq)
                if checks.failed:
                    readings.append(Numbering(first_seq))
                    con.register(checks.staged, readings[-1].reader(chunks()))
                    failed = con.sql(
                        f"""SELECT ord, source, received_at, origin, reason, raw, user_id, anonymous_id
                            FROM ({judged}) WHERE reason IS NOT NULL ORDER BY ord"""
                    ).to_arrow_table()
                    con.unregister(checks.staged)
                    result.failures = [
                        Failure(o, r)
                        for o, r in zip(failed.column("ord").to_pylist(), failed.column("reason").to_pylist())
                    ]
                    if store_failures and failed.num_rows:
                        stored_failures = self._store_failures(con, failed, self._next_failed)
                con.execute("COMMIT")
            except BaseException as error:
                _rollback(con)
                with contextlib.suppress(duckdb.Error, KeyError):
                    con.unregister(checks.staged)
                for reading in readings:
                    if reading.error is not None and reading.error is not error:
                        raise reading.error from error  # what went wrong reading the stream, not DuckDB's wrapping
                raise
        result.accepted = len(stored_seq)
        result.duplicates = result.received - result.accepted - result.failed
        if result.accepted:
            self._unindexed = (first_seq, result.accepted)
            result.first_seq = first_seq
            result.last_seq = first_seq + result.accepted - 1
            result.accepted_ords = numbering.ords()[stored_seq - first_seq]
        self._next_seq += result.accepted
        self._next_failed += stored_failures
        return result

    def _decide(self, normalized: pa.Table) -> tuple[IngestResult, np.ndarray, np.ndarray, np.ndarray]:
        """Which judged messages are stored: valid, first of their key in the batch, not stored before."""
        result = IngestResult(received=normalized.num_rows)
        valid = valid_mask(normalized)
        ords = normalized.column("ord").to_numpy()
        low = normalized.column("msg_key").fill_null(0).to_numpy().astype(np.uint64)
        high = normalized.column("msg_key_hi").fill_null(0).to_numpy().astype(np.uint64)
        accepted = first_copies(normalized, valid)
        accepted &= ~self._index.contains(low, high)
        reasons = normalized.column("reason").to_pylist()
        # In ord order whatever order the rows came in (a parallel scan may reorder them).
        failed = np.flatnonzero(~valid)
        result.failures = [Failure(int(ords[i]), reasons[i]) for i in failed[np.argsort(ords[failed], kind="stable")]]
        result.accepted = int(accepted.sum())
        result.duplicates = int(valid.sum()) - result.accepted
        result.accepted_ords = np.sort(ords[accepted])
        return result, accepted, low, high

    def judge(self, staged: pa.Table) -> pa.Table:
        """``staged`` judged and normalised, as :meth:`ingest_judged` takes it."""
        return normalize_staged(self._con, staged)

    def ingest_judged(
        self, normalized: pa.Table, *, want_rows: bool = False, store_failures: bool = True
    ) -> IngestResult:
        """Store a batch already judged (``normalize_sql``'s columns, one row per staged message).

        The collector judges each request in its handler, off the writer
        thread; the writer then only deduplicates and commits.
        """
        return self.commit(self.prepare(normalized, self._con, want_rows=want_rows, store_failures=store_failures))

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own for :meth:`prepare` (one per group in flight)."""
        return self._con.cursor()

    def prepare(
        self,
        normalized: pa.Table,
        con: duckdb.DuckDBPyConnection,
        *,
        want_rows: bool = False,
        store_failures: bool = True,
    ) -> PendingCommit:
        """The first half of :meth:`ingest_judged`: decide and insert, leaving the transaction open.

        The batch is decided against everything stored *and* everything
        prepared before it, so several batches may be in flight, each on its
        own connection; :meth:`commit` must then be called for each, in the
        order they were prepared. Storing failed messages reads the store
        (a message already kept is not kept again), so a batch that stores
        failures must be prepared alone: nothing else in flight.
        """
        self._catch_up()
        with self._state:
            result, accepted, low, high = self._decide(normalized)
            failing = store_failures and bool(result.failures)
            if failing and self._in_flight:
                raise RuntimeError("a batch storing failed messages must be prepared with nothing else in flight")
            pending = PendingCommit(
                result, None, low[accepted], high[accepted], self._next_seq, self._next_failed
            )
            self._index.reserve(pending.low, pending.high)
            self._next_seq += result.accepted
            self._in_flight.append(pending)
        if not result.accepted and not failing:
            return pending  # nothing to write; answered when the batches before it are committed
        rows = self._event_rows(normalized, accepted, pending.first_seq) if result.accepted else None
        try:
            if not failing:
                _insert_events(con, rows, "BEGIN TRANSACTION; INSERT INTO events SELECT * FROM event_rows")
            else:
                con.execute("BEGIN TRANSACTION")
                if rows is not None:
                    _insert_events(con, rows, "INSERT INTO events SELECT * FROM event_rows")
                failed = normalized.filter(pa.array(~valid_mask(normalized)))
                stored = self._store_failures(con, failed, pending.first_failed)
                with self._state:
                    self._next_failed += stored
        except BaseException:
            _rollback(con)
            self._fail_from(pending)
            raise
        pending.con = con
        if result.accepted:
            result.first_seq = pending.first_seq
            result.last_seq = pending.first_seq + result.accepted - 1
            if want_rows:
                result.rows = rows
        return pending

    def commit(self, pending: PendingCommit) -> IngestResult:
        """Commit a prepared batch (the oldest in flight); when it returns, the batch is durable.

        If the commit fails, nothing of it is stored, and every batch
        prepared after it fails too, without committing: they were decided
        against its keys (a message they dropped as a retry of it would be
        lost) and numbered after its rows.
        """
        if pending.aborted:
            _rollback(pending.con)
            raise CommitAborted("an earlier commit failed; this batch was rolled back with it")
        if not self._in_flight or self._in_flight[0] is not pending:
            raise RuntimeError("prepared batches must be committed in the order they were prepared")
        try:
            if pending.con is not None:
                end_transaction(pending.con)
        except BaseException:
            _rollback(pending.con)
            self._fail_from(pending)
            raise
        with self._state:
            self._in_flight.pop(0)
            self._index.confirm(pending.low, pending.high)
        return pending.result

    def _fail_from(self, pending: PendingCommit) -> None:
        """``pending`` will not be committed: neither will anything prepared after it."""
        with self._state:
            at = next(i for i, p in enumerate(self._in_flight) if p is pending)
            for dropped in self._in_flight[at:]:
                dropped.aborted = True
                self._index.release(dropped.low, dropped.high)
            del self._in_flight[at:]
            self._next_seq = pending.first_seq
            self._next_failed = pending.first_failed

    def _event_rows(self, normalized: pa.Table, accepted: np.ndarray, first_seq: int) -> pa.Table:
        rows = normalized.filter(pa.array(accepted))
        count = rows.num_rows
        extra = {
            "seq": pa.array(np.arange(first_seq, first_seq + count), pa.int64()),
            "ingested_at": pa.repeat(pa.scalar(self._clock.now(), pa.timestamp("us", tz="UTC")), count),
        }
        # Typed as JSON (Arrow's extension type), so that DuckDB takes them as
        # its JSON without parsing each to check it: judging made them from
        # parsed values. 15% of a group commit's insert and commit (measured).
        extra |= {name: rows.column(name).cast(pa.json_()) for name in JSON_COLUMNS if rows.column(name).type == pa.string()}
        return pa.table({name: extra[name] if name in extra else rows.column(name) for name in EVENT_COLUMNS})

    def _store_failures(self, con: duckdb.DuckDBPyConnection, failed: pa.Table, first_id: int) -> int:
        """Store the failed rows; how many were new."""
        # The same invalid message sent again (a retry, a file imported
        # twice) is kept once while it waits for a fix.
        con.register("failed_in", failed)
        try:
            con.execute(
                """
                INSERT INTO failed_messages
                    (id, source, received_at, origin, reason, raw, raw_key, user_id, anonymous_id)
                SELECT ? + row_number() OVER (ORDER BY ord) - 1, source, received_at, origin,
                       reason, raw, raw_key, user_id, anonymous_id
                FROM (
                    SELECT *, md5_number_lower(source || chr(0) || raw) AS raw_key FROM failed_in AS f
                    QUALIFY row_number() OVER (PARTITION BY source, raw ORDER BY ord) = 1
                ) AS n
                WHERE NOT EXISTS (
                    SELECT 1 FROM failed_messages f
                    WHERE f.raw_key = n.raw_key AND f.source = n.source AND f.raw = n.raw
                      AND f.status = 'failed')
                """,
                [first_id],
            )
        finally:
            con.unregister("failed_in")
        return int(con.execute("SELECT count(*) FROM failed_messages WHERE id >= ?", [first_id]).fetchall()[0][0])


def _insert_events(con: duckdb.DuckDBPyConnection, event_rows: pa.Table, sql: str) -> None:
    """Run ``sql``, which reads the Arrow table ``event_rows`` by name."""
    # DuckDB finds ``event_rows`` in this frame (a replacement scan): one
    # call into DuckDB. Registering and unregistering it are two more, each
    # giving up the GIL and waiting to win it back from the request
    # handlers: 3x the time of the insert under load (measured).
    con.execute(sql)


def end_transaction(con: duckdb.DuckDBPyConnection) -> None:
    """COMMIT: when it returns, the transaction is durable (its own function, for tests to fail it)."""
    con.execute("COMMIT")


class CommitAborted(StoreError):
    """A prepared batch rolled back because a commit before it failed."""


def _rollback(con: duckdb.DuckDBPyConnection | None) -> None:
    if con is None:
        return
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass  # the failed statement (or COMMIT itself) already ended the transaction
