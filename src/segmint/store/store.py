"""The local DuckDB store: connection, schema upgrade, and queries as Arrow.

Only one process may hold a DuckDB file for writing. While ``segmint
serve`` holds it, other commands reach the store through the server (see
``segmint.store.remote``); both kinds of store answer the same small
:class:`StoreReader` interface.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from segmint.errors import StoreBusyError, StoreError
from segmint.store.schema import SCHEMA_VERSION, current_version, migrate

_LOCK_HELD = re.compile(r"lock|conflicting", re.IGNORECASE)


class StoreReader(Protocol):
    """What every command that only reads needs from a store."""

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a read-only SQL query and return its result as an Arrow table."""
        ...

    def close(self) -> None: ...


class Store:
    """A DuckDB store file, opened for reading or for writing.

    Opening for writing upgrades an older schema in place. All timestamps
    are handled in UTC.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        threads: int | None = None,
        checkpoint_threshold: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no store here yet; run `segmint import` or `segmint serve` first")
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only, config=config)
        except duckdb.IOException as error:
            if _LOCK_HELD.search(str(error)):
                raise StoreBusyError(f"{self.path} is held by another process: {error}") from None
            raise StoreError(f"{self.path}: cannot open the store: {error}") from None
        # Set after connecting: the built-in ICU extension is not yet loaded
        # when connect-time options are applied.
        self._con.execute("SET TimeZone = 'UTC'")
        if checkpoint_threshold and not read_only:
            self._con.execute(f"SET checkpoint_threshold = '{checkpoint_threshold}'")
        self._lock = threading.RLock()
        version = current_version(self._con)
        if read_only:
            if version < SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}; open it once for writing "
                    f"(e.g. `segmint import` or `segmint serve`) to upgrade it to {SCHEMA_VERSION}"
                )
        else:
            self.upgraded_from, _ = migrate(self._con)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The raw connection, for the store's own layers (ingest, identity)."""
        return self._con

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection to the same database, for another thread."""
        return self._con.cursor()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        with self._lock:
            return self._con.sql(sql, params=list(params) if params else None).to_arrow_table()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self._lock:
            self._con.execute(sql, params or [])

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            self._con.execute("BEGIN TRANSACTION")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def checkpoint(self) -> None:
        with self._lock:
            self._con.execute("CHECKPOINT")

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
