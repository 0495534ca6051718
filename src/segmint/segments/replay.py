"""Driving the real-time evaluator from files (``segmint replay``).

The spec's rule: feed the messages whose event time is <= ``as_of`` in
file order (an older message after a newer one is a late event and counts
as it would in the server), advancing the evaluator's clock to the latest
event time seen, and finally to ``as_of``. The cyclic garbage collector
follows ``realtime.collector.CollectorPolicy`` meanwhile (the state is
frozen out of its walks as it grows), and the state's objects live on huge
pages where the system has them (``realtime.arenas``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from segmint.config.model import IdentityConfig
from segmint.segments.changes import Change, Memberships
from segmint.segments.parse import LoadedSegments


@dataclass
class ReplayResult:
    memberships: Memberships
    changes: list[Change] = field(default_factory=list)
    fed: int = 0
    skipped_future: int = 0


def replay(
    chunks: Iterable[pa.Table], segments: LoadedSegments, identity: IdentityConfig, as_of: datetime
) -> ReplayResult:
    from segmint.segments.realtime import RealtimeEvaluator
    from segmint.segments.realtime.arenas import use_huge_pages
    from segmint.segments.realtime.collector import CollectorPolicy

    use_huge_pages()  # before the state is made: its objects are what the replay waits on
    evaluator = RealtimeEvaluator(segments, identity)
    result = ReplayResult(memberships={})
    clock: datetime | None = None
    # The evaluator's state lives as long as the replay: keep the cyclic collector off it.
    with CollectorPolicy() as policy:
        for chunk in chunks:
            visible = chunk.filter(pc.less_equal(chunk.column("event_time"),
                                                 pa.scalar(as_of, chunk.schema.field("event_time").type)))
            result.skipped_future += chunk.num_rows - visible.num_rows
            for row in visible.to_pylist():
                result.changes += evaluator.feed([row])
                result.fed += 1
                policy.fed(1)
                if clock is None or row["event_time"] > clock:
                    clock = row["event_time"]
                    result.changes += evaluator.advance(clock)
        result.changes += evaluator.advance(as_of)
    result.memberships = evaluator.memberships()
    return result
