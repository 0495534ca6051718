"""Messages from files judged exactly as the collector would, without a store.

``segmint replay`` uses this to drive the real-time evaluator from files:
the same validation, event-time rules and retry deduplication as
``segmint import``, yielding event rows (the ``events`` table's shape,
``seq`` in file order) instead of writing them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from segmint.clock import Clock, SystemClock
from segmint.ingest.files import FilePlan, import_arrival, reader_for
from segmint.ingest.ingestor import first_copies, normalize_staged, valid_mask

ROW_COLUMNS = (
    "seq", "source", "message_id", "type", "event", "name", "user_id", "anonymous_id", "previous_id",
    "group_id", "event_time", "timestamp", "original_timestamp", "sent_at", "received_at", "properties",
    "traits", "context", "integrations", "extra",
)  # fmt: skip


def judged_rows(
    plans: Sequence[FilePlan], *, source: str = "import", clock: Clock | None = None
) -> Iterator[pa.Table]:
    """Valid, first-seen messages of the files, chunk by chunk, numbered in file order."""
    clock = clock or SystemClock()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    seen: set[tuple[str, str]] = set()
    next_seq = 1
    for plan in plans:
        for staged in reader_for(plan)(plan, import_arrival(source, clock.now()), None):
            normalized = normalize_staged(con, staged)
            keep = first_copies(normalized, valid_mask(normalized))
            sources = normalized.column("source").to_pylist()
            ids = normalized.column("message_id").to_pylist()
            for i in np.flatnonzero(keep):
                pair = (sources[i], ids[i])
                if pair in seen:
                    keep[i] = False
                else:
                    seen.add(pair)
            rows = normalized.filter(pa.array(keep))
            if not rows.num_rows:
                continue
            seq = pa.array(np.arange(next_seq, next_seq + rows.num_rows), pa.int64())
            next_seq += rows.num_rows
            yield pa.table({name: seq if name == "seq" else rows.column(name) for name in ROW_COLUMNS})
