"""segmint: an open-source customer segmentation engine.

The package is laid out by domain; reading the folder names in order gives
the data flow (see ARCHITECTURE.md):

    config -> ingest -> store -> identity -> segments / traits -> learn / models / quality -> server / cli
"""

__version__ = "0.1.0"

from segmint.compiled import install_finder as _install_finder

_install_finder()  # before anything imports the compiled core: pure Python on request, never a stale build


def open(db: "str | object" = "segmint.duckdb", config: "object | None" = None):  # noqa: A001
    """A notebook's way in: the store ``db`` and its configuration, results as pandas (see ``segmint.workspace``)."""
    from segmint.workspace import open as _open

    return _open(db, config)  # type: ignore[arg-type]
