"""Batch evaluation on DuckDB, over the store's own ``events`` table."""

from __future__ import annotations

import itertools
from datetime import datetime

import duckdb
import pyarrow as pa
from sqlglot import exp

from segmint.config.model import IdentityConfig
from segmint.segments.batch.compile import CompiledSegments, Relations, compile_segments
from segmint.segments.batch.dialects import DuckDB, Dialect
from segmint.segments.batch.inputs import prepared_events, prepared_traits, profile_ids
from segmint.segments.batch.result import memberships
from segmint.segments.changes import Memberships
from segmint.segments.parse import LoadedSegments

_names = itertools.count()


def evaluation_query(compiled: CompiledSegments, dialect: Dialect, as_of: datetime, events: str) -> exp.Select:
    """The compiled query preceded by the engine's preparation of its inputs."""
    relations = compiled.relations
    query = compiled.query.copy()
    # seg_events holds every message: where the engine allows, ask for it
    # to be inlined, so that each pass reads only its own columns and rows.
    query = query.with_(
        relations.events,
        as_=prepared_events(dialect, compiled.needs, as_of, events),
        materialized=dialect.cte_materialized,
    )
    traits = prepared_traits(dialect, compiled.needs, as_of, events, relations.profile_ids)
    if traits is not None:
        query = query.with_(relations.traits, as_=traits, materialized=dialect.cte_materialized)
    return query


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
    compiled = compile_segments(definitions, as_of, Relations(profile_ids=name))
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
