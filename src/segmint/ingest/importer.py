"""``segmint import``: files in, through the same writer as the collector."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa

from segmint.clock import Clock, SystemClock
from segmint.config.model import Config
from segmint.ingest.files import FilePlan, import_arrival, plan_file, reader_for, settle
from segmint.ingest.staging import Arrival
from segmint.ingest.ingestor import IngestResult


class MessageWriter(Protocol):
    """Anything that stores staged batches: the local ingestor or a running server."""

    def ingest(self, staged: pa.Table) -> IngestResult: ...


@runtime_checkable
class StreamWriter(Protocol):
    """A writer that stores a whole file's staged tables in one go (the local ingestor)."""

    def ingest_stream(self, chunks: Callable[[], Iterable[pa.Table]]) -> IngestResult: ...


@dataclass
class FileReport:
    path: Path
    kind: str
    mapping: str | None
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": str(self.path),
            "kind": self.kind,
            "mapping": self.mapping,
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "failure_reasons": dict(self.reasons.most_common()),
        }


def plan_imports(paths: Sequence[Path], config: Config, mapping: str | None = None) -> list[FilePlan]:
    """Check every file before reading any, so a bad last file wastes no work."""
    return [plan_file(path, config.imports, mapping) for path in paths]


def import_files(
    plans: Sequence[FilePlan],
    writer: MessageWriter,
    *,
    source: str = "import",
    clock: Clock | None = None,
    on_progress: Callable[[FilePlan, int], None] | None = None,
) -> list[FileReport]:
    clock = clock or SystemClock()
    reports = []
    for plan in plans:
        plan = settle(plan)  # every reading of this file stops at the same place
        report = FileReport(plan.path, plan.kind, plan.mapping_name)
        arrival = import_arrival(source, clock.now())
        advance = (lambda done, plan=plan: on_progress(plan, done)) if on_progress else None
        read = reader_for(plan)
        if isinstance(writer, StreamWriter):
            # The file in one statement: DuckDB reads the next block while it stores the last.
            reading = iter([advance])  # progress is shown by the first reading only

            def chunks(plan: FilePlan = plan, arrival: Arrival = arrival) -> Iterator[pa.Table]:
                return read(plan, arrival, next(reading, None))

            results = [writer.ingest_stream(chunks)]
        else:
            results = (writer.ingest(staged) for staged in read(plan, arrival, advance))
        for result in results:
            report.received += result.received
            report.accepted += result.accepted
            report.duplicates += result.duplicates
            report.failed += result.failed
            report.reasons.update(f.reason.split(":")[0] for f in result.failures)
        reports.append(report)
    return reports
