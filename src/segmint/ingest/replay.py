"""Replaying failed messages once they (or the rules) are fixed.

A failed message is replayed through the same ingestor as everything else.
If it is now accepted (or turns out to be a duplicate of a stored one) its
record is marked ``replayed``; if it fails again, its record keeps the new
reason and stays ``failed``: replaying never multiplies records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
import pyarrow as pa

from segmint.ingest.ingestor import IngestResult
from segmint.ingest.staging import Arrival, concat, stage
from segmint.store.store import StoreReader


class ReplayTarget(StoreReader, Protocol):
    def ingest(self, staged: pa.Table, *, store_failures: bool = True) -> IngestResult: ...

    def execute(self, sql: str, params: Any = None) -> None: ...


@dataclass
class ReplayReport:
    replayed: list[int] = field(default_factory=list)
    still_failing: list[tuple[int, str]] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "replayed": self.replayed,
            "still_failing": [{"id": i, "reason": r} for i, r in self.still_failing],
            "unknown": self.unknown,
        }


def select_failed(store: StoreReader, ids: Iterable[int] | None) -> list[dict[str, Any]]:
    """Failed records still waiting: the given ids, or all of them."""
    chosen = list(ids) if ids is not None else None
    if chosen is None:
        return store.query(
            "SELECT id, source, received_at, raw FROM failed_messages WHERE status = 'failed' ORDER BY id"
        ).to_pylist()
    return store.query(
        "SELECT id, source, received_at, raw FROM failed_messages WHERE status = 'failed' "
        "AND id IN (SELECT unnest(?)) ORDER BY id",
        [chosen],
    ).to_pylist()


def replay(
    target: ReplayTarget,
    records: list[dict[str, Any]],
    now: datetime,
    fixes: dict[int, Any] | None = None,
) -> ReplayReport:
    """Replay ``records`` (as from :func:`select_failed`), with fixed messages where given."""
    report = ReplayReport()
    if fixes:
        known = {r["id"] for r in records}
        report.unknown = sorted(set(fixes) - known)
        records = [r for r in records if r["id"] in fixes]
    if not records:
        return report
    tables = []
    for record in records:
        raw = record["raw"]
        if fixes and record["id"] in fixes:
            raw = orjson.dumps(fixes[record["id"]]).decode()
        arrival = Arrival(record["source"], record["received_at"], f"replay of failed #{record['id']}")
        tables.append(stage([raw], arrival))
    result = target.ingest(concat(tables), store_failures=False)
    failed = {f.ord: f.reason for f in result.failures}
    for position, record in enumerate(records):
        if position in failed:
            report.still_failing.append((record["id"], failed[position]))
        else:
            report.replayed.append(record["id"])
    if report.replayed:
        target.execute(
            "UPDATE failed_messages SET status = 'replayed', replayed_at = ? WHERE id IN (SELECT unnest(?))",
            [now, report.replayed],
        )
    for record_id, reason in report.still_failing:
        target.execute("UPDATE failed_messages SET reason = ? WHERE id = ?", [reason, record_id])
    return report


def read_fixes(text: bytes) -> dict[int, Any]:
    """Fixed messages from an exported file: one ``{"id": N, "message": {...}}`` a line."""
    fixes: dict[int, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
            fixes[int(item["id"])] = item["message"]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            from segmint.errors import IngestError

            raise IngestError(
                f"line {number}: expected {{\"id\": N, \"message\": {{...}}}} as written by `segmint failed export`"
            ) from None
    return fixes
