"""Opening the store the right way: directly, or through a running server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from segmint.errors import StoreBusyError
from segmint.store.discovery import read_info
from segmint.store.remote import RemoteStore
from segmint.store.store import Store, StoreReader


def open_reader(db_path: Path) -> StoreReader:
    """A store to read: the file itself, or the server that holds it."""
    try:
        return Store(db_path, read_only=True)
    except StoreBusyError:
        return _remote(db_path)


def open_writer(db_path: Path) -> Store | RemoteStore:
    """A store to write: the file itself, or the server that holds it."""
    try:
        return Store(db_path)
    except StoreBusyError:
        return _remote(db_path)


def _remote(db_path: Path) -> RemoteStore:
    info = read_info(db_path)
    if info is None:
        raise StoreBusyError(
            f"{db_path} is held by another process that is not a segmint server; "
            "stop it, or point --db at another store"
        )
    return RemoteStore(info)


@contextmanager
def reading(db_path: Path) -> Iterator[StoreReader]:
    """``open_reader`` as a context: the store is closed on the way out."""
    store = open_reader(db_path)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def writing(db_path: Path) -> Iterator[Store | RemoteStore]:
    """``open_writer`` as a context: the store is closed on the way out."""
    store = open_writer(db_path)
    try:
        yield store
    finally:
        store.close()
