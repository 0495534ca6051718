"""Batch evaluation on DuckDB, over the store's own ``events`` table."""

from __future__ import annotations

import itertools
from datetime import datetime

import duckdb
import pyarrow as pa

from segmint.config.model import IdentityConfig
from segmint.segments.batch.compile import Relations, compile_segments
from segmint.segments.batch.dialects import DuckDB
from segmint.segments.batch.inputs import profile_ids
from segmint.segments.batch.run import evaluation_query, memberships
from segmint.segments.changes import Memberships
from segmint.segments.parse import LoadedSegments

_names = itertools.count()


def run_duckdb(
    con: duckdb.DuckDBPyConnection,
    ids: pa.Table,
    segments: LoadedSegments,
    as_of: datetime,
    events: str = "events",
) -> Memberships:
    """Evaluate with a ready ``profile_ids`` table (see ``inputs.profile_ids``)."""
    definitions = list(segments.definitions.values())
    if not definitions:
        return {}
    name = f"segmint_profile_ids_{next(_names)}"
    compiled = compile_segments(definitions, as_of, Relations(profile_ids=name), segments.computed)
    sql = DuckDB().sql(evaluation_query(compiled, DuckDB(), as_of, events))
    con.register(name, ids)
    try:
        rows = con.sql(sql).to_arrow_table()
    finally:
        con.unregister(name)
    return memberships(rows, compiled.columns)


def evaluate_duckdb(
    con: duckdb.DuckDBPyConnection, segments: LoadedSegments, identity: IdentityConfig, as_of: datetime
) -> Memberships:
    """Every usable segment's members at ``as_of``, from the store on ``con``."""
    if not segments.definitions:
        return {}
    return run_duckdb(con, profile_ids(con, identity, as_of), segments, as_of)
