"""What every engine runs and reads back: one query, then memberships.

:func:`evaluation_query` puts the engine's preparation of the inputs
(``inputs.py``, in the engine's dialect) in front of the compiled segments
(``compile.py``, the same for every engine); :func:`memberships` turns the
rows it returns into :data:`Memberships`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from segmint.segments.batch.compile import CompiledSegments, FloatSum
from segmint.segments.batch.dialects import Dialect
from segmint.segments.batch.inputs import prepared_events, prepared_traits
from segmint.segments.changes import Memberships


def evaluation_query(compiled: CompiledSegments, dialect: Dialect, as_of: datetime, events: str) -> exp.Select:
    """The compiled query preceded by the engine's preparation of its inputs."""
    relations = compiled.relations
    query = compiled.query.transform(lambda node: _float_sums(node, dialect))
    assert isinstance(query, exp.Select)
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


def _float_sums(node: exp.Expr, dialect: Dialect) -> exp.Expr:
    """``FloatSum`` (with or without a FILTER) as the engine sums DOUBLEs."""
    if isinstance(node, exp.Filter) and isinstance(node.this, FloatSum):
        return dialect.float_sum(node.this.this, node.expression)
    if isinstance(node, FloatSum) and not isinstance(node.parent, exp.Filter):
        return dialect.float_sum(node.this, None)
    return node


def memberships(rows: pa.Table, columns: Mapping[str, str]) -> Memberships:
    """``rows`` has ``pid`` and one boolean column per segment (``columns``: segment -> column).

    Profile ids are sorted once, by code point (Arrow compares UTF-8 bytes,
    which orders as Python's ``sorted`` does).
    """
    rows = rows.take(pc.sort_indices(rows, sort_keys=[("pid", "ascending")]))
    pids = rows.column("pid")
    return {name: pids.filter(rows.column(column)).to_pylist() for name, column in columns.items()}
