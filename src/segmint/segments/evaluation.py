"""Batch evaluation against a store, local or through the server that holds it."""

from __future__ import annotations

from datetime import datetime

from segmint.config.model import IdentityConfig
from segmint.segments.changes import Memberships
from segmint.segments.parse import LoadedSegments
from segmint.store.store import Store, StoreReader


def evaluate_store(
    store: StoreReader, segments: LoadedSegments, identity: IdentityConfig, as_of: datetime
) -> Memberships:
    """Every usable segment's members at ``as_of``, by SQL over the stored events."""
    if isinstance(store, Store):
        from segmint.segments.batch import evaluate_duckdb

        return evaluate_duckdb(store.cursor(), segments, identity, as_of)
    # The server holds the store: it evaluates these definitions there.
    return store.evaluate_segments(  # type: ignore[attr-defined]
        as_of, dict(segments.source), identity.model_dump(), dict(segments.trait_source)
    )
