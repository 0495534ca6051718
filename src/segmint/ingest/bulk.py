"""Storing a stream of staged tables in one statement: the bulk path's parts.

``Ingestor._ingest_in_sql`` judges and inserts a whole file (or a large
batch) in one ``INSERT ... SELECT``. These are its pieces: the stream
numbered as DuckDB reads it (``Numbering``), the functions DuckDB calls to
ask the deduplication index (``BulkChecks``), and what is sorted out after
the statement, in its transaction: copies within the stream
(``later_copies_sql``) and gaps in ``seq`` (``stored_numbers``,
``close_gaps``). ``later_copies`` is the same rule in NumPy, for batches
judged in Python.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator

import duckdb
import numpy as np
import pyarrow as pa

from segmint.ingest.dedup import DedupIndex
from segmint.ingest.staging import STAGED_SCHEMA

# Slices DuckDB judges in parallel (one table is one slice to its scan).
SQL_SLICE_ROWS = 8192


@contextlib.contextmanager
def any_row_order(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Let DuckDB store the rows of one statement in whatever order its threads finish them.

    Every row carries its number (``seq``) and whatever reads events in
    order sorts by it; keeping the physical order costs a bulk insert 8-15 %
    (measured on a million messages). DuckDB's setting is the database's,
    so it is restored as soon as the statement is done.
    """
    # On a cursor of its own: a failed statement leaves ``con``'s transaction
    # aborted, where even SET is refused.
    settings = con.cursor()
    try:
        before = settings.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
        settings.execute("SET preserve_insertion_order = false")
        try:
            yield
        finally:
            settings.execute(f"SET preserve_insertion_order = {'true' if before else 'false'}")
    finally:
        settings.close()


class Numbering:
    """Numbers a stream of staged tables as DuckDB reads it: ``seq`` is ``first_seq`` plus the row's position.

    Each table is cut into slices of ``SQL_SLICE_ROWS``, so that DuckDB
    judges them on every core.
    """

    def __init__(self, first_seq: int) -> None:
        self._next = first_seq
        self._first = first_seq
        self._ords: list[np.ndarray] = []
        self._last_ord: int | None = None
        self.error: BaseException | None = None

    @property
    def rows(self) -> int:
        return self._next - self._first

    def ords(self) -> np.ndarray:
        """The ``ord`` of every row read, by position."""
        return np.concatenate(self._ords) if self._ords else np.zeros(0, dtype=np.int64)

    def reader(self, chunks: Iterable[pa.Table]) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(_NUMBERED_SCHEMA, self._batches(chunks))

    def _batches(self, chunks: Iterable[pa.Table]) -> Iterator[pa.RecordBatch]:
        # DuckDB reports an error raised while it reads as its own; the
        # original is kept so the ingest can raise that instead.
        try:
            yield from self._numbered(chunks)
        except Exception as error:  # not GeneratorExit: DuckDB closing the stream after its own error
            self.error = error
            raise

    def _numbered(self, chunks: Iterable[pa.Table]) -> Iterator[pa.RecordBatch]:
        for chunk in chunks:
            if not chunk.num_rows:
                continue
            ords = chunk.column("ord").to_numpy()
            if (self._last_ord is not None and ords[0] <= self._last_ord) or (len(ords) > 1 and (np.diff(ords) <= 0).any()):
                raise ValueError("a stream of staged tables must number its rows (ord) rising")
            self._last_ord = int(ords[-1])
            self._ords.append(ords)
            seq = pa.array(np.arange(self._next, self._next + chunk.num_rows, dtype=np.int64))
            self._next += chunk.num_rows
            numbered = chunk.cast(STAGED_SCHEMA).append_column("seq", seq)
            yield from numbered.to_batches(max_chunksize=SQL_SLICE_ROWS)


_NUMBERED_SCHEMA = STAGED_SCHEMA.append(pa.field("seq", pa.int64()))


def rising(staged: pa.Table) -> bool:
    ords = staged.column("ord").to_numpy()
    return bool(len(ords) < 2 or (np.diff(ords) > 0).all())


class BulkChecks:
    """What DuckDB asks Python during one bulk insert, through two functions.

    ``is_new(low, high)``: whether the index lacks each key (read only: the
    index does not change during the statement). ``failed_function(ord)`` is
    called for the invalid messages instead; it notes that there were some
    (idempotent, so however DuckDB calls it the answer holds) and keeps them
    out. DuckDB's functions belong to the whole database, and several
    writers may share one (a publish opens an ingestor of its own): each
    statement registers its functions, and its stream, under names of its
    own and removes them after.
    """

    _numbers = itertools.count()

    def __init__(self, index: DedupIndex) -> None:
        self._index = index
        self.failed = False
        n = next(self._numbers)
        self.is_new, self.failed_function, self.staged = f"segmint_is_new_{n}", f"segmint_failed_{n}", f"staged_{n}"

    @classmethod
    @contextlib.contextmanager
    def registered(cls, con: duckdb.DuckDBPyConnection, index: DedupIndex) -> Iterator["BulkChecks"]:
        checks = cls(index)
        con.create_function(checks.is_new, checks._is_new, ["UBIGINT", "UBIGINT"], "BOOLEAN", type="arrow")
        con.create_function(
            checks.failed_function, checks._failed, ["BIGINT"], "BOOLEAN", type="arrow", side_effects=True
        )
        try:
            yield checks
        finally:
            for name in (checks.is_new, checks.failed_function):
                with contextlib.suppress(duckdb.Error):
                    con.remove_function(name)

    def _is_new(self, low: pa.Array, high: pa.Array) -> pa.Array:
        return pa.array(~self._index.contains(low.to_numpy(), high.to_numpy()))

    def _failed(self, ords: pa.Array) -> pa.Array:
        self.failed = True
        return pa.array(np.zeros(len(ords), dtype=bool))


def later_copies(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Which rows (in ``seq`` order) repeat the key of an earlier row: a message sent twice in one batch."""
    later = np.zeros(len(low), dtype=bool)
    order = np.argsort(low, kind="stable")  # a radix sort; equal low halves keep their seq order
    sorted_low = low[order]
    runs = np.flatnonzero(sorted_low[1:] == sorted_low[:-1])
    if not len(runs):
        return later  # the usual case: no two keys share even their low half
    # Rare: compare whole keys among the rows whose low halves repeat.
    suspects = np.unique(np.concatenate([order[runs], order[runs + 1]]))
    seen: set[tuple[int, int]] = set()
    for row in suspects:  # ascending: the first copy comes first
        key = (int(low[row]), int(high[row]))
        later[row] = key in seen
        seen.add(key)
    return later


def later_copies_sql(con: duckdb.DuckDBPyConnection, first_seq: int) -> np.ndarray:
    """:func:`later_copies` in the store: the rows from ``first_seq`` on that repeat an earlier one's key, ascending.

    A hash aggregate over the keys, in DuckDB, rather than reading a
    million keys back to sort them; the join that names the rows runs only
    over keys that repeat (none, nearly always).
    """
    found = con.execute(
        """WITH batch AS (SELECT seq, msg_key, msg_key_hi FROM events WHERE seq >= $first),
                repeated AS (SELECT msg_key, msg_key_hi, min(seq) AS first FROM batch
                             GROUP BY msg_key, msg_key_hi HAVING count(*) > 1)
           SELECT b.seq FROM batch b JOIN repeated r USING (msg_key, msg_key_hi)
           WHERE b.seq > r.first ORDER BY b.seq""",
        {"first": first_seq},
    ).fetchnumpy()
    return np.asarray(found["seq"], dtype=np.int64)


def stored_numbers(con: duckdb.DuckDBPyConnection, first_seq: int) -> np.ndarray:
    """The ``seq`` of every row from ``first_seq`` on, ascending: read only when they have gaps."""
    count, last = con.execute(
        "SELECT count(*), coalesce(max(seq), $first - 1) FROM events WHERE seq >= $first", {"first": first_seq}
    ).fetchall()[0]
    if last - first_seq + 1 == count:  # every row stored: no gaps (the usual import)
        return np.arange(first_seq, first_seq + count, dtype=np.int64)
    found = con.execute("SELECT seq FROM events WHERE seq >= ? ORDER BY seq", [first_seq]).fetchnumpy()
    return np.asarray(found["seq"], dtype=np.int64)


def close_gaps(con: duckdb.DuckDBPyConnection, stored_seq: np.ndarray, first_seq: int) -> None:
    """Number the stored rows ``first_seq, first_seq + 1, ...`` (``stored_seq`` ascending).

    Each row was inserted under ``first_seq`` plus its position in the
    batch; rows not stored (invalid, retries, later copies) left gaps, which
    the Arrow path never makes, and both paths store the same table.
    """
    renumbered = np.arange(first_seq, first_seq + len(stored_seq), dtype=np.int64)
    moved = stored_seq != renumbered
    if not moved.any():
        return
    con.register("seq_map", pa.table({"old": pa.array(stored_seq[moved]), "new": pa.array(renumbered[moved])}))
    try:
        con.execute(
            "UPDATE events SET seq = seq_map.new FROM seq_map WHERE events.seq = seq_map.old AND events.seq >= ?",
            [first_seq],
        )
    finally:
        con.unregister("seq_map")
