"""The writer: every message stored once, failures kept, nothing half-written."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.store.store import Store

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def track(message_id: str, user: str = "u", **extra) -> str:
    return orjson.dumps({"type": "track", "event": "E", "userId": user, "messageId": message_id, **extra}).decode()


def arrival(source: str = "web") -> Arrival:
    return Arrival(source, NOW, "test")


def count(store: Store, sql: str) -> int:
    return store.query(sql).column(0)[0].as_py()


def test_retries_are_stored_once_per_source(store):
    ingestor = Ingestor(store)
    first = ingestor.ingest(stage([track("a"), track("b"), track("a")], arrival()))
    assert (first.accepted, first.duplicates) == (2, 1)
    again = ingestor.ingest(stage([track("a"), track("c")], arrival()))
    assert (again.accepted, again.duplicates) == (1, 1)
    other = ingestor.ingest(stage([track("a")], arrival("ios")))
    assert other.accepted == 1
    assert count(store, "SELECT count(*) FROM events") == 4
    assert store.query("SELECT seq FROM events ORDER BY seq").column(0).to_pylist() == [1, 2, 3, 4]


def test_a_reopened_store_still_knows_what_it_holds(tmp_path):
    path = tmp_path / "s.duckdb"
    with Store(path) as first:
        Ingestor(first).ingest(stage([track("a")], arrival()))
    with Store(path) as second:
        result = Ingestor(second).ingest(stage([track("a"), track("b")], arrival()))
        assert (result.accepted, result.duplicates) == (1, 1)
        assert count(second, "SELECT max(seq) FROM events") == 2


def test_keys_that_share_a_low_half_are_told_apart():
    from segmint.ingest.dedup import DedupIndex

    index = DedupIndex(np.array([5, 5, 9], dtype=np.uint64), np.array([1, 2, 3], dtype=np.uint64))
    index.add(np.array([7], dtype=np.uint64), np.array([1], dtype=np.uint64))
    hits = index.contains(np.array([5, 5, 5, 9, 7, 7], dtype=np.uint64), np.array([1, 2, 3, 3, 1, 2], dtype=np.uint64))
    assert hits.tolist() == [True, True, False, True, True, False]


def test_failed_messages_are_kept_once_with_their_reason(store):
    ingestor = Ingestor(store)
    bad = orjson.dumps({"type": "track", "userId": "u"}).decode()
    result = ingestor.ingest(stage([bad, track("ok"), "nope"], arrival()))
    assert result.accepted == 1
    assert [f.ord for f in result.failures] == [0, 2]
    ingestor.ingest(stage([bad], arrival()))  # a retry of the same invalid message
    rows = store.query("SELECT id, reason, raw FROM failed_messages ORDER BY id").to_pylist()
    assert [r["raw"] for r in rows] == [bad, "nope"]
    assert "event name" in rows[0]["reason"]


def test_a_crash_mid_batch_stores_nothing(store, monkeypatch):
    ingestor = Ingestor(store)

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingestor, "_store_failures", boom)
    with pytest.raises(RuntimeError):
        ingestor.ingest(stage([track("a"), "bad"], arrival()))
    assert count(store, "SELECT count(*) FROM events") == 0
    monkeypatch.undo()
    result = ingestor.ingest(stage([track("a"), "bad"], arrival()))
    assert result.accepted == 1  # the rolled-back message was not remembered as stored


batches = st.lists(
    st.lists(st.tuples(st.sampled_from(["web", "ios"]), st.integers(0, 15)), max_size=12), min_size=1, max_size=6
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=batches)
def test_whatever_the_batching_each_message_is_stored_exactly_once(tmp_path_factory, batches):
    with Store(tmp_path_factory.mktemp("s") / "s.duckdb") as store:
        ingestor = Ingestor(store)
        accepted = 0
        for batch in batches:
            for source in ("web", "ios"):
                raws = [track(f"m{n}") for s, n in batch if s == source]
                accepted += ingestor.ingest(stage(raws, arrival(source))).accepted
        expected = {(s, f"m{n}") for batch in batches for s, n in batch}
        stored = store.query("SELECT source, message_id FROM events").to_pylist()
        assert sorted((r["source"], r["message_id"]) for r in stored) == sorted(expected)
        assert accepted == len(expected)


# ---- the two ways a batch is stored: from Arrow (collector) and inside DuckDB (imports) ----

from message_strategies import messages as any_message  # noqa: E402

from segmint.clock import FixedClock  # noqa: E402
from segmint.ingest import bulk as bulk_module  # noqa: E402
from segmint.ingest import ingestor as ingestor_module  # noqa: E402

EVENT_SQL = "SELECT * EXCLUDE (properties, traits, context, integrations, extra), properties::VARCHAR AS p, " \
            "traits::VARCHAR AS t, context::VARCHAR AS c, extra::VARCHAR AS x FROM events ORDER BY seq"
FAILED_SQL = "SELECT id, source, origin, reason, raw, raw_key, status FROM failed_messages ORDER BY id"


def _stored(store: Store) -> tuple[list, list]:
    return store.query(EVENT_SQL).to_pylist(), store.query(FAILED_SQL).to_pylist()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batches=st.lists(
        st.lists(st.one_of(any_message.map(lambda m: orjson.dumps(m).decode()),
                           # retries that differ: which copy is stored shows
                           st.tuples(st.integers(0, 6), st.integers(0, 3)).map(lambda p: track(f"m{p[0]}", f"u{p[1]}")),
                           st.just("not json")),
                 min_size=1, max_size=25),
        min_size=1, max_size=3,
    )
)
def test_the_sql_path_stores_exactly_what_the_arrow_path_stores(tmp_path_factory, batches):
    results, stored = [], []
    for threshold in (10**9, 0):  # every batch through Arrow, then every batch inside DuckDB
        original = ingestor_module.PYTHON_PATH_MAX_ROWS, bulk_module.SQL_SLICE_ROWS
        ingestor_module.PYTHON_PATH_MAX_ROWS = threshold
        bulk_module.SQL_SLICE_ROWS = 3  # many slices, judged in parallel
        try:
            with Store(tmp_path_factory.mktemp("s") / "s.duckdb") as store:
                ingestor = Ingestor(store, FixedClock(NOW))
                runs = [ingestor.ingest(stage(batch, Arrival("web", NOW, "t", None, True))) for batch in batches]
                results.append([(r.accepted, r.duplicates, r.failures, list(r.accepted_ords), r.first_seq, r.last_seq)
                                for r in runs])
                stored.append(_stored(store))
        finally:
            ingestor_module.PYTHON_PATH_MAX_ROWS, bulk_module.SQL_SLICE_ROWS = original
    assert results[0] == results[1]
    assert stored[0] == stored[1]


def test_a_batch_of_several_row_groups_is_stored_in_order(tmp_path):
    # More than DuckDB's 122,880 rows a row group: the temporary table is
    # scanned in parallel, and the positional insert must still line up.
    count = 130_000
    raws = [track(f"m{i % 125_000}") for i in range(count)]
    with Store(tmp_path / "s.duckdb") as store:
        result = Ingestor(store).ingest(stage(raws, arrival()))
        assert (result.accepted, result.duplicates) == (125_000, 5_000)
        check = store.query(
            "SELECT count(*) AS n, bool_and(message_id = 'm' || (seq - 1)::VARCHAR) AS in_order FROM events"
        ).to_pylist()[0]
        assert check == {"n": 125_000, "in_order": True}


# ---- batches in flight: prepared on their own connections, committed in order ----


def fail_commits_on(monkeypatch, *failing):
    """Make COMMIT fail (the disk is full) on the given connections."""
    from segmint.ingest import ingestor as ingestor_module

    real = ingestor_module.end_transaction

    def end_transaction(con):
        if any(con is f for f in failing):
            raise OSError("no space left on device")
        real(con)

    monkeypatch.setattr(ingestor_module, "end_transaction", end_transaction)


def judged(*texts: str, source: str = "web"):
    from segmint.ingest.validate import judge

    return judge(stage(list(texts), arrival(source)))


def test_a_batch_in_flight_counts_for_the_batches_decided_after_it(store):
    ingestor = Ingestor(store)
    first = ingestor.prepare(judged(track("k"), track("a")), ingestor.cursor())
    second = ingestor.prepare(judged(track("k"), track("b")), ingestor.cursor())
    assert (second.result.accepted, second.result.duplicates) == (1, 1)  # "k" is first's, not yet committed
    assert count(store, "SELECT count(*) FROM events") == 0  # neither is visible before its commit
    assert ingestor.commit(first).last_seq == 2
    assert ingestor.commit(second).first_seq == 3
    rows = store.query("SELECT seq, message_id FROM events ORDER BY seq").to_pylist()
    assert [(r["seq"], r["message_id"]) for r in rows] == [(1, "k"), (2, "a"), (3, "b")]
    assert ingestor.stored_messages == 3


def test_a_failed_commit_fails_every_batch_behind_it_and_forgets_them(store, monkeypatch):
    from segmint.ingest.ingestor import CommitAborted

    ingestor = Ingestor(store)
    doomed = ingestor.cursor()
    fail_commits_on(monkeypatch, doomed)
    first = ingestor.prepare(judged(track("k"), track("a")), doomed)
    second = ingestor.prepare(judged(track("k"), track("b")), ingestor.cursor())
    nothing_new = ingestor.prepare(judged(track("a")), ingestor.cursor())  # only a retry of first's
    with pytest.raises(OSError):
        ingestor.commit(first)
    # second dropped "k" as a retry of first's: committing it would lose "k".
    with pytest.raises(CommitAborted):
        ingestor.commit(second)
    with pytest.raises(CommitAborted):
        ingestor.commit(nothing_new)
    assert count(store, "SELECT count(*) FROM events") == 0
    # Nothing of them is remembered: the clients' retries are stored, numbered from 1.
    retry = ingestor.ingest_judged(judged(track("k"), track("a"), track("b")))
    assert (retry.accepted, retry.first_seq, retry.last_seq) == (3, 1, 3)
    assert store.query("SELECT seq FROM events ORDER BY seq").column(0).to_pylist() == [1, 2, 3]


def test_batches_are_committed_in_the_order_they_were_prepared(store):
    ingestor = Ingestor(store)
    first = ingestor.prepare(judged(track("a")), ingestor.cursor())
    second = ingestor.prepare(judged(track("b")), ingestor.cursor())
    with pytest.raises(RuntimeError, match="order"):
        ingestor.commit(second)
    ingestor.commit(first)
    ingestor.commit(second)
    assert store.query("SELECT message_id FROM events ORDER BY seq").column(0).to_pylist() == ["a", "b"]


def test_a_batch_that_stores_failures_is_prepared_alone(store):
    # Keeping an invalid message once reads the committed failures: it
    # cannot see those of a batch still in flight.
    ingestor = Ingestor(store)
    first = ingestor.prepare(judged(track("a"), "bad"), ingestor.cursor())
    with pytest.raises(RuntimeError, match="nothing else in flight"):
        ingestor.prepare(judged("bad"), ingestor.cursor())
    ingestor.commit(first)
    again = ingestor.ingest_judged(judged("bad", track("b")))
    assert (again.accepted, again.failed) == (1, 1)
    assert count(store, "SELECT count(*) FROM failed_messages") == 1
    assert count(store, "SELECT max(seq) FROM events") == 2


def test_reserved_keys_are_reported_until_confirmed_or_released():
    from segmint.ingest.dedup import DedupIndex

    index = DedupIndex()
    keys = np.array([1, 2], dtype=np.uint64), np.array([3, 4], dtype=np.uint64)
    index.reserve(*keys)
    assert index.contains(*keys).tolist() == [True, True] and len(index) == 0
    index.release(*keys)
    assert index.contains(*keys).tolist() == [False, False]
    index.reserve(*keys)
    index.confirm(*keys)
    assert index.contains(*keys).tolist() == [True, True] and len(index) == 2 and index.reserved == 0


def test_a_stream_must_number_its_rows_rising(tmp_path):
    """Stored numbers follow positions in the stream; a stream out of order would misnumber them."""
    with Store(tmp_path / "s.duckdb") as store:
        ingestor = Ingestor(store)
        later = stage([track(f"m{i}") for i in range(6000)], arrival(), 6000)
        earlier = stage([track(f"n{i}") for i in range(6000)], arrival(), 0)
        with pytest.raises(ValueError, match="rising"):
            ingestor.ingest_stream(lambda: [later, earlier])
        assert store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 0}]
        result = ingestor.ingest_stream(lambda: [earlier, later])
        assert (result.accepted, result.first_seq, result.last_seq) == (12_000, 1, 12_000)


def test_a_bulk_insert_gives_back_the_row_order_setting(tmp_path):
    """Rows of one bulk statement may be stored in any order; DuckDB's (database-wide) setting comes back after."""

    def keeps_order(store) -> bool:
        return store.cursor().execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]

    with Store(tmp_path / "s.duckdb") as store:
        ingestor = Ingestor(store)
        result = ingestor.ingest_stream(lambda: [stage([track(f"m{i}") for i in range(6000)], arrival())])
        assert result.accepted == 6000 and keeps_order(store)
        rows = store.query("SELECT seq, message_id FROM events ORDER BY seq").to_pylist()
        assert [r["message_id"] for r in rows] == [f"m{i}" for i in range(6000)]  # numbered in arrival order
        store.cursor().execute("SET preserve_insertion_order = false")  # whatever it was, it comes back
        ingestor.ingest_stream(lambda: [stage([track(f"q{i}") for i in range(6000)], arrival())])
        assert not keeps_order(store)
        store.cursor().execute("SET preserve_insertion_order = true")
        with pytest.raises(ValueError):
            ingestor.ingest_stream(lambda: [stage([track("x")] * 6000, arrival(), 10), stage([track("y")], arrival(), 0)])
        assert keeps_order(store)


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=40))
def test_later_copies_are_every_repeat_of_a_key_after_its_first(keys):
    from segmint.ingest.bulk import later_copies

    low = np.array([k[0] for k in keys], dtype=np.uint64)
    high = np.array([k[1] for k in keys], dtype=np.uint64)
    expected = [key in keys[:i] for i, key in enumerate(keys)]
    assert later_copies(low, high).tolist() == expected


@settings(deadline=None)
@given(
    keys=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.booleans()), max_size=40),
    first=st.integers(1, 10),
)
def test_the_store_finds_the_same_copies_and_numbers_as_python(keys, first):
    """``later_copies_sql`` and ``stored_numbers`` (the bulk path's, in DuckDB) against the NumPy model."""
    from segmint.ingest.bulk import later_copies, later_copies_sql, stored_numbers

    con = duckdb.connect()
    con.execute("CREATE TABLE events (seq BIGINT, msg_key UBIGINT, msg_key_hi UBIGINT)")
    seqs = [first - 1]  # a row before the batch, which neither function may look at
    rows = [(first - 1, 0, 0)]
    for low, high, gap in keys:  # rising numbers, with a gap where a row was not stored
        seqs.append(seqs[-1] + 1 + gap)
        rows.append((seqs[-1], low, high))
    con.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)
    batch = rows[1:]
    low = np.array([r[1] for r in batch], dtype=np.uint64)
    high = np.array([r[2] for r in batch], dtype=np.uint64)
    expected = [r[0] for r, later in zip(batch, later_copies(low, high)) if later]
    assert later_copies_sql(con, first).tolist() == expected
    assert stored_numbers(con, first).tolist() == [r[0] for r in batch]


def test_after_a_bulk_insert_the_index_knows_its_rows(tmp_path):
    """The rows of a bulk insert reach the index lazily; the next batch still sees them (bulk after bulk: above)."""
    with Store(tmp_path / "s.duckdb") as store:
        ingestor = Ingestor(store)
        ingestor.ingest_stream(lambda: [stage([track(f"m{i}") for i in range(6000)], arrival())])
        assert ingestor.stored_messages == 6000  # before anything asks the index
        again = ingestor.ingest(stage([track("m17"), track("new")], arrival()))  # the Python path
        assert (again.accepted, again.duplicates, ingestor.stored_messages) == (1, 1, 6001)


def test_two_writers_on_one_store_each_bulk_ingest(tmp_path):
    """DuckDB's functions belong to the database: a second ingestor (a publish) must not collide with the first."""
    with Store(tmp_path / "s.duckdb") as store:
        first = Ingestor(store)
        one = first.ingest_stream(lambda: [stage([track(f"a{i}") for i in range(6000)], arrival())])
        second = Ingestor(store)  # opened after the first wrote, as demo/story.py's publish does
        two = second.ingest_stream(lambda: [stage([track(f"b{i}") for i in range(6000)], arrival())])
        assert (one.accepted, two.accepted, two.first_seq) == (6000, 6000, 6001)
        assert store.query("SELECT count(DISTINCT seq) AS n FROM events").to_pylist() == [{"n": 12000}]


def test_a_stream_that_fails_midway_stores_nothing_and_says_why(tmp_path):
    """An error while reading surfaces as itself, and the store is left as it was."""
    from segmint.errors import IngestError

    def reading_fails():
        yield stage([track(f"m{i}") for i in range(6000)], arrival())
        raise IngestError("the disk went away")

    with Store(tmp_path / "s.duckdb") as store:
        ingestor = Ingestor(store)
        with pytest.raises(IngestError, match="disk went away"):
            ingestor.ingest_stream(reading_fails)
        assert store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 0}]
        assert ingestor.ingest_stream(lambda: [stage([track("p")] * 6000, arrival())]).accepted == 1


def test_a_stream_closed_by_duckdb_is_not_taken_for_a_reading_error():
    """When DuckDB fails midway it closes the stream (GeneratorExit): its own error must be the one raised."""
    from segmint.ingest.bulk import Numbering

    numbering = Numbering(1)
    stream = numbering._batches(iter([stage([track("a")], arrival()), stage([track("b")], arrival(), 1)]))
    next(stream)
    stream.close()
    assert numbering.error is None
