"""Opening a store: the settings a writer asks for."""

from __future__ import annotations

from segmint.store.store import Store


def _threshold(store: Store) -> str:
    return store.cursor().execute("SELECT current_setting('checkpoint_threshold') AS t").fetchall()[0][0]


def test_a_store_opened_with_a_checkpoint_threshold_uses_it_on_every_connection(tmp_path):
    """The server raises DuckDB's checkpoint threshold (server/runtime.py); its writer's cursors must see it."""
    with Store(tmp_path / "s.duckdb", checkpoint_threshold="256MB") as store:
        raised = _threshold(store)
    with Store(tmp_path / "s.duckdb") as store:
        default = _threshold(store)
    assert raised == "244.1 MiB" and raised != default  # 256 MB (10^6) in MiB
