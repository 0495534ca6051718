"""Opening a store: the settings a writer asks for."""

from __future__ import annotations

import duckdb

from segmint.store.store import Store


def _threshold(con) -> str:
    return con.execute("SELECT current_setting('checkpoint_threshold') AS t").fetchall()[0][0]


def test_a_store_opened_with_a_checkpoint_threshold_uses_it_on_every_connection(tmp_path):
    """The server raises DuckDB's checkpoint threshold (server/runtime.py); its writer's cursors must see it."""
    expected = duckdb.connect()
    expected.execute("SET checkpoint_threshold = '256MB'")
    with Store(tmp_path / "s.duckdb", checkpoint_threshold="256MB") as store:
        raised = {_threshold(store.connection), _threshold(store.cursor()), _threshold(store.cursor())}
    with Store(tmp_path / "s.duckdb") as store:
        default = _threshold(store.cursor())
    assert raised == {_threshold(expected)} and default != _threshold(expected)
