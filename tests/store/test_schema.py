"""The store's schema is versioned and upgraded in place."""

from __future__ import annotations

import duckdb
import pytest

from segmint.errors import StoreBusyError, StoreError
from segmint.store.schema import MIGRATIONS, SCHEMA_VERSION, current_version, migrate
from segmint.store.store import Store


def test_an_older_store_is_upgraded_in_place_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    migrate(con, target=1)  # a store as the first release made it
    con.execute(
        "INSERT INTO events (seq, source, message_id, msg_key, msg_key_hi, type, user_id, event_time, received_at, "
        "ingested_at) VALUES (1, 'web', 'm1', 1, 2, 'track', 'u', now(), now(), now())"
    )
    con.close()
    with Store(path) as store:
        assert store.upgraded_from == 1
        assert current_version(store.connection) == SCHEMA_VERSION == len(MIGRATIONS)
        assert store.query("SELECT message_id FROM events").column(0).to_pylist() == ["m1"]
        assert store.query("SELECT count(*) FROM profiles").column(0)[0].as_py() == 0


def test_a_store_from_a_newer_segmint_is_refused(tmp_path):
    path = tmp_path / "new.duckdb"
    with Store(path) as store:
        store.execute("UPDATE segmint_meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="newer than this segmint"):
        Store(path)


def test_reading_needs_an_existing_store(tmp_path):
    with pytest.raises(StoreError, match="no store here yet"):
        Store(tmp_path / "none.duckdb", read_only=True)


def test_a_second_writer_is_told_the_store_is_busy(tmp_path):
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "busy.duckdb"
    Store(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(path)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusyError):
            Store(path)
    finally:
        holder.communicate("", timeout=10)
