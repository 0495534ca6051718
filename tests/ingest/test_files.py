"""Importing files: JSONL (with envelopes), CSV and Parquet through mappings."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from message_strategies import messages

from segmint.config.model import Config, ImportMapping
from segmint.errors import IngestError, MappingError
from segmint.ingest.importer import import_files, plan_imports
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import full_origins, message_text

MAPPINGS = {
    "customers": ImportMapping(
        match="customers*.csv", type="identify", user_id="customer_id", timestamp="signup_at",
        traits={"email": "email", "age": "age"},
    ),
    "orders": ImportMapping(
        match="orders*.parquet", type="track", event="Order Completed", user_id="customer_id",
        timestamp="ordered_at", message_id="order_id", properties={"order_id": "order_id", "total": "total"},
    ),
}
CONFIG = Config(imports=MAPPINGS)


def write_jsonl(path: Path, lines: list[object]) -> Path:
    path.write_bytes(b"".join((orjson.dumps(x) if not isinstance(x, str) else x.encode()) + b"\n" for x in lines))
    return path


def run_import(store, *paths: Path, mapping: str | None = None):
    return import_files(plan_imports(list(paths), CONFIG, mapping), Ingestor(store))


def events(store) -> list[dict]:
    return store.query("SELECT * FROM events ORDER BY seq").to_pylist()


def test_jsonl_with_an_envelope_line_and_a_bad_line(store, tmp_path):
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"type": "identify", "userId": "u1", "traits": {"age": 3}, "messageId": "1"},
            "",
            "{broken",
            {"batch": [{"type": "track", "event": "A", "userId": "u1", "messageId": "2"},
                       {"type": "track", "event": "B", "userId": "u1", "messageId": "3"}],
             "sentAt": "2026-01-01T00:00:00Z"},
        ],
    )
    (report,) = run_import(store, path)
    assert (report.received, report.accepted, report.failed) == (4, 3, 1)
    assert [e["event"] for e in events(store)] == [None, "A", "B"]
    failed = store.query("SELECT origin, raw FROM failed_messages").to_pylist()
    assert failed == [{"origin": "m.jsonl:3", "raw": "{broken"}]


def test_importing_the_same_files_twice_changes_nothing(store, tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"type": "track", "event": "A", "anonymousId": "x"}, "bad"])
    orders = tmp_path / "orders_2026.parquet"
    pq.write_table(pa.table({"order_id": ["o1", "o2"], "customer_id": ["c1", "c2"],
                             "ordered_at": ["2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z"],
                             "total": [10.5, 20.0]}), orders)
    run_import(store, path, orders)
    before = (events(store), store.query("SELECT * FROM failed_messages").to_pylist())
    second = run_import(store, path, orders)
    assert sum(r.accepted for r in second) == 0
    after = (events(store), store.query("SELECT * FROM failed_messages").to_pylist())
    assert after == before


def test_tables_become_identify_and_order_completed_messages(store, tmp_path):
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,email,age,signup_at\nc1,a@x.com,31,2025-03-04\nc2,b@x.com,,2025-03-05\n")
    orders = tmp_path / "orders.parquet"
    pq.write_table(pa.table({"order_id": ["o1"], "customer_id": ["c1"],
                             "ordered_at": pa.array([1_700_000_000_000_000], pa.timestamp("us", tz="UTC")),
                             "total": [99.5]}), orders)
    run_import(store, customers, orders)
    rows = events(store)
    assert [(r["type"], r["user_id"], r["event"]) for r in rows] == [
        ("identify", "c1", None), ("identify", "c2", None), ("track", "c1", "Order Completed")]
    assert orjson.loads(rows[0]["traits"]) == {"email": "a@x.com", "age": 31}
    assert orjson.loads(rows[1]["traits"]) == {"email": "b@x.com", "age": None}
    assert orjson.loads(rows[2]["properties"]) == {"order_id": "o1", "total": 99.5}
    assert rows[2]["message_id"] == "orders:o1"
    assert rows[0]["event_time"].isoformat().startswith("2025-03-04T00:00:00")


@pytest.mark.parametrize("bulk", [False, True])
def test_a_failed_row_or_line_is_kept_with_where_it_came_from(tmp_path, monkeypatch, bulk):
    """Origins are spelled out (file, then line or row) for failed messages, in Python and inside DuckDB."""
    from segmint.ingest import ingestor as ingestor_module
    from segmint.store.store import Store

    if bulk:
        monkeypatch.setattr(ingestor_module, "PYTHON_PATH_MAX_ROWS", 0)
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,email,age,signup_at\nc1,a@x.com,31,2025-03-04\n,b@x.com,,2025-03-05\n")
    lines = write_jsonl(tmp_path / "m.jsonl", [{"type": "track", "event": "A", "userId": "u"}, "{broken"])
    with Store(tmp_path / "s.duckdb") as store:
        run_import(store, customers, lines)
        failed = store.query("SELECT origin FROM failed_messages ORDER BY id").to_pylist()
    assert [r["origin"] for r in failed] == ["customers.csv:row 2", "m.jsonl:2"]


def test_a_mapping_that_does_not_fit_names_the_columns(store, tmp_path):
    customers = tmp_path / "customers.csv"
    customers.write_text("id,mail\n1,a@x\n")
    with pytest.raises(MappingError, match=r"customer_id.*it has: id, mail"):
        run_import(store, customers)


def test_a_table_without_a_mapping_says_how_to_add_one(store, tmp_path):
    other = tmp_path / "leads.csv"
    other.write_text("a\n1\n")
    with pytest.raises(MappingError, match=r"imports:.*--mapping"):
        run_import(store, other)
    with pytest.raises(IngestError, match="no such file"):
        run_import(store, tmp_path / "missing.jsonl")


def test_a_pretty_printed_envelope_file(store, tmp_path):
    path = tmp_path / "batch.json"
    path.write_text(orjson.dumps({"batch": [{"type": "page", "anonymousId": "a", "name": "Home"}],
                                  "sentAt": "2026-01-01T00:00:00Z"}, option=orjson.OPT_INDENT_2).decode())
    (report,) = run_import(store, path)
    assert report.accepted == 1
    assert events(store)[0]["name"] == "Home"


def test_blocks_are_cut_into_lines_as_split_would(tmp_path):
    from datetime import datetime, timezone

    from segmint.ingest.files import FilePlan, _stage_block, import_arrival

    plan = FilePlan(tmp_path / "x.jsonl", "jsonl", None, None, 0)
    data = b'{"a":1}\n\n  \n\xff\xfe\n{"b":2}\r\n{"c":3}'
    table, count = _stage_block(data, False, 10, plan, import_arrival("s", datetime.now(timezone.utc)), 5)
    lines = data.split(b"\n")
    expected = [
        (i + 5, line.decode("utf-8", "replace"), f"x.jsonl:{10 + n + 1}")
        for i, (n, line) in enumerate((n, line) for n, line in enumerate(lines) if line.strip())
    ]
    assert count == len(lines)
    got = table.select(["ord", "raw"]).append_column("origin", full_origins(table)).to_pylist()
    assert [(r["ord"], message_text(r["raw"]), r["origin"]) for r in got] == expected


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_blocks_of_any_size_read_the_same_lines(tmp_path, monkeypatch, chunk):
    from datetime import datetime, timezone

    from segmint.ingest import files
    from segmint.ingest.files import import_arrival, plan_file, read_jsonl

    lines = [b'{"a":1}', b"", b'{"b":"' + b"x" * 100 + b'"}', b"  ", b'{"batch":[{"c":3}]}', b'{"d":4}']
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\n".join(lines))  # no newline at the end
    monkeypatch.setattr(files, "CHUNK_BYTES", chunk)
    arrival = import_arrival("s", datetime(2026, 1, 1, tzinfo=timezone.utc))
    tables = list(read_jsonl(plan_file(path, {}), arrival))
    rows = [r for t in tables for r in t.select(["ord", "raw"]).append_column("origin", full_origins(t)).to_pylist()]
    assert [r["origin"] for r in rows] == ["x.jsonl:1", "x.jsonl:3", "x.jsonl:5 message 1", "x.jsonl:6"]
    assert [r["ord"] for r in rows] == [0, 1, 2, 3]
    assert message_text(rows[1]["raw"]) == lines[2].decode()


@given(st.lists(st.text(alphabet=" \t\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u00a0\u2003\u3000aé{}", max_size=6), max_size=12))
def test_only_lines_of_whitespace_are_skipped(tmp_path_factory, lines):
    """Only suspicious lines are trimmed (for speed); the rule is still Unicode whitespace."""
    from datetime import datetime, timezone

    from segmint.ingest.files import FilePlan, _stage_block, import_arrival

    plan = FilePlan(Path("x.jsonl"), "jsonl", None, None, 0)
    data = "".join(line + "\n" for line in lines).encode()
    table, count = _stage_block(data, False, 0, plan, import_arrival("s", datetime.now(timezone.utc)), 0)
    assert count == len(lines)
    assert [message_text(raw) for raw in table.column("raw").to_pylist()] == [line for line in lines if line.strip()]


_line = st.one_of(
    messages.map(lambda m: orjson.dumps(m).decode()),
    # copies of one message that differ (which is stored shows), some without an id
    st.tuples(st.integers(0, 4), st.sampled_from(["A", "B", None])).map(
        lambda p: orjson.dumps({"type": "track", "event": p[1], "userId": "u", "messageId": f"m{p[0]}"}).decode()
    ),
    st.sampled_from(["{broken", '{"type": "track", "event": "E", "userId": "u"}', "   "]),
)


@settings(max_examples=20, deadline=None)
@given(files=st.lists(st.lists(_line, min_size=1, max_size=20), min_size=1, max_size=2))
def test_a_file_is_stored_alike_through_python_and_inside_duckdb(tmp_path_factory, files):
    """Lines staged with their newlines and streamed in blocks through one insert store what Python stores."""
    from datetime import datetime, timezone

    from segmint.clock import FixedClock
    from segmint.ingest import ingestor as ingestor_module
    from segmint.store.store import Store

    folder = tmp_path_factory.mktemp("f")
    paths = [write_jsonl(folder / f"f{i}.jsonl", lines) for i, lines in enumerate(files)]
    outcomes = []
    from segmint.ingest import files as files_module

    for threshold, chunk in ((10**9, files_module.CHUNK_BYTES), (0, 200)):  # in DuckDB: blocks of a few lines
        original = ingestor_module.PYTHON_PATH_MAX_ROWS, files_module.CHUNK_BYTES
        ingestor_module.PYTHON_PATH_MAX_ROWS, files_module.CHUNK_BYTES = threshold, chunk
        try:
            with Store(folder / f"s{threshold}.duckdb") as store:
                clock = FixedClock(datetime(2026, 1, 2, tzinfo=timezone.utc))
                writer = Ingestor(store, clock)
                reports = [  # each file, then each again
                    import_files(plan_imports([path], CONFIG), writer, clock=clock)[0] for path in paths + paths
                ]
                outcomes.append((
                    [(r.received, r.accepted, r.duplicates, r.failed, dict(r.reasons)) for r in reports],
                    store.query("SELECT * FROM events ORDER BY seq").to_pylist(),
                    store.query("SELECT * FROM failed_messages ORDER BY id").to_pylist(),
                ))
        finally:
            ingestor_module.PYTHON_PATH_MAX_ROWS, files_module.CHUNK_BYTES = original
    assert outcomes[0] == outcomes[1]


def message_ids(lines: list[str]) -> list[str]:
    """The ids a store holds after importing these lines: valid ones, each first copy once."""
    return list(dict.fromkeys(orjson.loads(line)["messageId"] for line in lines if line.startswith('{"type"')))


@settings(max_examples=25, deadline=None)
@given(
    before=st.lists(st.sampled_from(["{broken", *(orjson.dumps({"type": "track", "event": "E", "userId": "u",
                                                                "messageId": f"m{i}"}).decode() for i in range(6))]),
                    min_size=1, max_size=8),
    ends_with_newline=st.booleans(),
    appended=st.lists(st.integers(6, 9).map(lambda i: orjson.dumps({"type": "track", "event": "E", "userId": "u",
                                                                     "messageId": f"m{i}"}).decode()), max_size=3),
)
def test_a_file_appended_to_during_an_import_is_read_as_planned(tmp_path_factory, before, ends_with_newline, appended):
    """Both readings of one import (insert, failures pass) see the file as planned; a line still being written waits."""
    from segmint.ingest import files as files_module
    from segmint.ingest import ingestor as ingestor_module
    from segmint.store.store import Store

    folder = tmp_path_factory.mktemp("grow")
    path = folder / "live.jsonl"
    path.write_text("\n".join(before) + ("\n" if ends_with_newline else ""))
    plans = plan_imports([path], CONFIG)
    with path.open("a") as handle:  # a writer appends after planning, before reading
        handle.write("".join("\n" + line for line in appended) if not ends_with_newline and appended
                     else "".join(line + "\n" for line in appended))
    complete = before if ends_with_newline or not appended else before[:-1]  # the last line grew: it waits
    original = ingestor_module.PYTHON_PATH_MAX_ROWS, files_module.CHUNK_BYTES
    ingestor_module.PYTHON_PATH_MAX_ROWS, files_module.CHUNK_BYTES = 0, 100  # inside DuckDB, in small blocks
    try:
        with Store(folder / "s.duckdb") as store:
            (report,) = import_files(plans, Ingestor(store))
            assert (report.received, report.failed) == (len(complete), complete.count("{broken"))
            assert [r["message_id"] for r in events(store)] == message_ids(complete)
            run_import(store, path)  # the next import takes the rest
            assert [r["message_id"] for r in events(store)] == message_ids(path.read_text().splitlines())
    finally:
        ingestor_module.PYTHON_PATH_MAX_ROWS, files_module.CHUNK_BYTES = original


def test_a_file_that_shrinks_during_an_import_is_refused_by_name(store, tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"type": "track", "event": "E", "userId": "u", "messageId": "1"}] * 3)
    plans = plan_imports([path], CONFIG)
    path.write_text("")
    with pytest.raises(IngestError, match=r"x\.jsonl: the file is shorter than when its import began"):
        import_files(plans, Ingestor(store))
    assert events(store) == []


@pytest.mark.parametrize("ends_with_newline", [True, False])
def test_a_file_appended_to_between_the_insert_and_the_failures_pass_is_read_alike(tmp_path, monkeypatch,
                                                                                  ends_with_newline):
    """Where reading stops is fixed once per import: the failures pass sees the lines the insert saw."""
    from segmint.ingest import files as files_module
    from segmint.ingest import importer as importer_module
    from segmint.ingest import ingestor as ingestor_module
    from segmint.store.store import Store

    good = [orjson.dumps({"type": "track", "event": "E", "userId": "u", "messageId": f"m{i}"}).decode() for i in range(3)]
    path = tmp_path / "live.jsonl"
    path.write_text("\n".join([good[0], "{broken", good[1]]) + ("\n" if ends_with_newline else ""))
    plans = plan_imports([path], CONFIG)
    readings = []

    def reader_for(plan):
        def read(plan, arrival, progress):
            readings.append(plan.stop)
            if len(readings) == 2:  # the failures pass: the writer has finished its line and gone on
                with path.open("a") as handle:
                    handle.write(("" if ends_with_newline else "\n") + good[2] + "\n")
            return files_module.read_jsonl(plan, arrival, progress)
        return read

    monkeypatch.setattr(importer_module, "reader_for", reader_for)
    monkeypatch.setattr(ingestor_module, "PYTHON_PATH_MAX_ROWS", 0)
    with Store(tmp_path / "s.duckdb") as store:
        (report,) = import_files(plans, Ingestor(store))
        assert len(readings) == 2 and readings[0] == readings[1]
        assert (report.received, report.accepted, report.failed) == (3, 2, 1)
        assert [r["message_id"] for r in events(store)] == ["m0", "m1"]


def test_rows_added_to_a_table_after_planning_wait_for_the_next_import(store, tmp_path):
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id,email,age,signup_at\nc1,a@x.com,31,2025-03-04\n")
    plans = plan_imports([customers], CONFIG)
    with customers.open("a") as handle:
        handle.write("c2,b@x.com,40,2025-03-05\n")
    (report,) = import_files(plans, Ingestor(store))
    assert report.received == 1 and [r["user_id"] for r in events(store)] == ["c1"]
    run_import(store, customers)
    assert [r["user_id"] for r in events(store)] == ["c1", "c2"]
