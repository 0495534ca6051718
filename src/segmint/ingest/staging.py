"""Raw messages on their way in, as one Arrow table per batch.

Every way in (HTTP, files, replay of failed messages) turns what it
received into a *staged* table of raw message texts; the ingestor then
judges and stores them all the same way.

A text may end with one newline: JSONL lines are staged as they lie in the
file, newline included, because cutting it off copies the whole file
(0.7 s of a 300 MB import, measured). Whatever reads ``raw`` reads it
without that newline (``message_text`` here, ``normalize.py`` in SQL).

Where a message came from is ``origin``, and for a file its ``line`` (or
row) after it: ``events.jsonl:`` and 12 make ``events.jsonl:12``. Only a
failed message needs it spelled out, so the bulk path (``normalize.py``, in
SQL) builds it for those alone, and a million-line file no longer makes a
million strings that nothing reads (0.12 s, measured). ``full_origins``
spells out every row's, for the small batches judged in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STAGED_SCHEMA = pa.schema(
    [
        ("ord", pa.int64()),
        ("source", pa.string()),
        ("arrived_at", pa.timestamp("us", tz="UTC")),
        ("batch_sent_at", pa.string()),
        ("raw", pa.string()),
        ("origin", pa.string()),
        ("trust_received_at", pa.bool_()),
        ("line", pa.int64()),  # NULL, or the number that ends the origin
    ]
)


@dataclass(frozen=True)
class Arrival:
    """Where a group of messages came from and when."""

    source: str
    arrived_at: datetime
    origin: str
    batch_sent_at: str | None = None
    trust_received_at: bool = False


def stage(
    raws: Sequence[str] | pa.Array, arrival: Arrival, start: int = 0, lines: pa.Array | None = None
) -> pa.Table:
    """A staged table for messages that share one arrival (``lines``: each one's line in the origin)."""
    count = len(raws)

    def same(value: object, kind: pa.DataType) -> pa.Array:
        return pa.repeat(pa.scalar(value, kind), count)

    return pa.table(
        {
            "ord": pa.array(np.arange(start, start + count, dtype=np.int64)),  # a Python range cost 80 ns a row
            "source": same(arrival.source, pa.string()),
            "arrived_at": same(arrival.arrived_at, pa.timestamp("us", tz="UTC")),
            "batch_sent_at": same(arrival.batch_sent_at, pa.string()),
            "raw": raws if isinstance(raws, (pa.Array, pa.ChunkedArray)) else pa.array(raws, pa.string()),
            "origin": same(arrival.origin, pa.string()),
            "trust_received_at": same(arrival.trust_received_at, pa.bool_()),
            "line": lines if lines is not None else pa.nulls(count, pa.int64()),
        },
        schema=STAGED_SCHEMA,
    )


def full_origins(staged: pa.Table) -> pa.ChunkedArray:
    """Each staged message's origin spelled out: ``origin``, then ``line`` if it has one."""
    origin, line = staged.column("origin"), staged.column("line")
    joined = pc.binary_join_element_wise(origin, pc.cast(line, pa.string()), "")
    return pc.if_else(pc.is_null(line), origin, joined)


def message_text(raw: str) -> str:
    """A staged text without the newline a JSONL line keeps."""
    return raw[:-1] if raw.endswith("\n") else raw


def concat(tables: Sequence[pa.Table]) -> pa.Table:
    """Join staged tables into one, renumbering ``ord`` to stay unique."""
    if not tables:
        return STAGED_SCHEMA.empty_table()
    whole = pa.concat_tables(tables)
    return whole.set_column(0, "ord", pa.array(range(whole.num_rows), pa.int64()))
