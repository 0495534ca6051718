"""From the evaluation query's rows to :data:`Memberships`."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from segmint.segments.changes import Memberships


def memberships(rows: pa.Table, columns: Mapping[str, str]) -> Memberships:
    """``rows`` has ``pid`` and one boolean column per segment (``columns``: segment -> column).

    Profile ids are sorted once, by code point (Arrow compares UTF-8 bytes,
    which orders as Python's ``sorted`` does).
    """
    rows = rows.take(pc.sort_indices(rows, sort_keys=[("pid", "ascending")]))
    pids = rows.column("pid")
    return {name: pids.filter(rows.column(column)).to_pylist() for name, column in columns.items()}
