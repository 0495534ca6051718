"""Reading files into staged batches: JSONL, and CSV or Parquet through a mapping.

Files are read in chunks so that a file larger than memory streams
through; each chunk becomes one staged table. The local ingestor stores a
whole file's chunks in one statement and one transaction
(``Ingestor.ingest_stream``); a running server takes each chunk as a batch
of its own. Every staged row keeps where it came from (the file, and its
line or row as a number) so a failed message can be traced back.

Every reading of one import (the insert, then perhaps a second pass for
the failures) must see the same lines, though something may append to the
file meanwhile: :func:`settle` fixes, once, where reading stops.
"""

from __future__ import annotations

import fnmatch
import mmap
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from segmint.config.model import ImportMapping
from segmint.errors import IngestError, MappingError
from segmint.ingest.staging import STAGED_SCHEMA, Arrival, stage

CHUNK_BYTES = 32 * 1024 * 1024  # small enough that reading the next overlaps storing the last
TABLE_CHUNK_ROWS = 200_000
Progress = Callable[[int], None]  # called with bytes (or rows) done since the last call


@dataclass(frozen=True)
class FilePlan:
    """What one file is and how it will be read."""

    path: Path
    kind: str  # jsonl | csv | parquet
    mapping_name: str | None
    mapping: ImportMapping | None
    size: int  # bytes for JSONL, rows for tables, when planned: the progress total
    stop: int | None = None  # where every reading stops, in the same unit (set by ``settle``)


def settle(plan: FilePlan) -> FilePlan:
    """The plan with where its readings stop fixed, when its import starts.

    A table stops at the rows it had when planned. A JSONL file stops at
    its planned size, unless it has grown since and that size cuts a line:
    the line was still being written, and is left, whole, to the next
    import. Decided once, so that every reading sees the same lines.
    """
    return replace(plan, stop=_stop(plan))


def _stop(plan: FilePlan) -> int:
    """Where readings of ``plan`` stop: as settled, or decided now for a plan read without :func:`settle`."""
    if plan.stop is not None:
        return plan.stop
    if plan.kind != "jsonl":
        return plan.size
    with plan.path.open("rb") as handle:
        now = os.fstat(handle.fileno()).st_size
        _check_not_shorter(plan, now, plan.size)
        if now == plan.size or plan.size == 0:
            return plan.size
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if mapped[plan.size - 1] == ord("\n"):
                return plan.size
            return mapped.rfind(b"\n", 0, plan.size) + 1


def _check_not_shorter(plan: FilePlan, now: int, needed: int) -> None:
    if now < needed:
        raise IngestError(
            f"{plan.path}: the file is shorter than when its import began ({needed:,} bytes needed, now {now:,}); "
            "import it again once nothing truncates it"
        )


def plan_file(
    path: Path, mappings: Mapping[str, ImportMapping], mapping_name: str | None = None
) -> FilePlan:
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".gz",):
        raise IngestError(f"{path}: compressed files are not read directly; decompress it first")
    if suffix in (".jsonl", ".ndjson", ".json"):
        return FilePlan(path, "jsonl", None, None, path.stat().st_size)
    if suffix not in (".csv", ".parquet", ".pq", ".tsv"):
        raise IngestError(
            f"{path}: unknown file type {suffix!r}; segmint imports .jsonl/.ndjson/.json "
            "(Segment messages), .csv/.tsv and .parquet (through a mapping)"
        )
    kind = "parquet" if suffix in (".parquet", ".pq") else "csv"
    name, mapping = _choose_mapping(path, mappings, mapping_name)
    rows = _count_rows(path, kind)
    return FilePlan(path, kind, name, mapping, rows)


def _choose_mapping(
    path: Path, mappings: Mapping[str, ImportMapping], wanted: str | None
) -> tuple[str, ImportMapping]:
    if wanted is not None:
        if wanted not in mappings:
            known = ", ".join(sorted(mappings)) or "none configured"
            raise MappingError(f"{path}: no import mapping named {wanted!r} (known: {known})")
        return wanted, mappings[wanted]
    for name, mapping in mappings.items():
        if mapping.match and fnmatch.fnmatch(path.name, mapping.match):
            return name, mapping
    known = ", ".join(f"{n} (match: {m.match})" for n, m in mappings.items()) or "none configured"
    raise MappingError(
        f"{path}: no import mapping matches this file; add one under `imports:` in the "
        f"configuration with `match: \"{path.name}\"`, or pass --mapping NAME (mappings: {known})"
    )


def _count_rows(path: Path, kind: str) -> int:
    con = duckdb.connect()
    reader = _reader(path, kind)
    return int(con.execute(f"SELECT count(*) FROM {reader}").fetchall()[0][0])


def _reader(path: Path, kind: str) -> str:
    quoted = str(path).replace("'", "''")
    if kind == "parquet":
        return f"read_parquet('{quoted}')"
    return f"read_csv('{quoted}', header = true, auto_detect = true)"


# ---- JSONL ------------------------------------------------------------------


def read_jsonl(plan: FilePlan, arrival: Arrival, progress: Progress | None = None) -> Iterator[pa.Table]:
    """Staged tables of a JSONL file's messages, a chunk at a time.

    A line holding a ``{"batch": [...]}`` envelope is expanded (its
    ``sentAt`` applies to its messages); a file that is one JSON document
    (an envelope or an array of messages, pretty-printed) is read whole.
    """
    size = _stop(plan)
    document = _whole_document(plan.path, size)
    if document is not None:
        yield from _stage_document(document, plan, arrival)
        if progress:
            progress(plan.size)
        return
    with plan.path.open("rb") as handle:
        _check_not_shorter(plan, os.fstat(handle.fileno()).st_size, size)
        if size == 0:
            return
        # Mapped, not read: blocks are views of the file, cut at newlines without copies.
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    # Read ahead: faulting the mapping in page by page took longer than the rest of staging.
    for advice in ("MADV_SEQUENTIAL", "MADV_WILLNEED"):
        if hasattr(mmap, advice):
            mapped.madvise(getattr(mmap, advice))
    view = memoryview(mapped)
    line_base = start = position = 0
    while position < size:
        end = min(position + CHUNK_BYTES, size)
        if end < size:
            cut = mapped.rfind(b"\n", position, end)
            if cut < 0:  # one line longer than a block: take it whole
                cut = mapped.find(b"\n", end)
            end = size if cut < 0 else cut + 1
        # An envelope's "batch" is an array, so a block without "[" holds none:
        # that test is a memchr (0.02 s a 600 MB file), the key's is not (0.27 s).
        has_envelope = mapped.find(b"[", position, end) >= 0 and mapped.find(b'"batch"', position, end) >= 0
        table, line_count = _stage_block(view[position:end], has_envelope, line_base, plan, arrival, start)
        line_base += line_count
        if table.num_rows:
            start += table.num_rows
            yield table
        if progress:
            progress(end - position)
        position = end
    if progress and plan.size > size:
        progress(plan.size - size)  # the line left to the next import: the bar still ends full


def _whole_document(path: Path, size: int) -> object | None:
    """The parsed file (its first ``size`` bytes) when it is one JSON document rather than JSON lines."""
    with path.open("rb") as handle:
        head = handle.read(min(4096, size))
    stripped = head.lstrip()
    if not stripped or stripped[:1] not in (b"[", b"{"):
        return None
    first_line = stripped.split(b"\n", 1)[0]
    try:
        orjson.loads(first_line)
        return None  # the first line is a message by itself: JSON lines
    except orjson.JSONDecodeError:
        pass
    try:
        with path.open("rb") as handle:
            return orjson.loads(handle.read(size))
    except orjson.JSONDecodeError:
        return None  # a broken first line in a JSONL file: it will fail as such


def _stage_document(document: object, plan: FilePlan, arrival: Arrival) -> Iterator[pa.Table]:
    sent_at = None
    if isinstance(document, dict) and isinstance(document.get("batch"), list):
        sent_at = document.get("sentAt") if isinstance(document.get("sentAt"), str) else None
        messages = document["batch"]
    elif isinstance(document, list):
        messages = document
    else:
        messages = [document]
    raws = [orjson.dumps(m).decode() for m in messages]
    for offset in range(0, len(raws), TABLE_CHUNK_ROWS):
        chunk = raws[offset : offset + TABLE_CHUNK_ROWS]
        origin = f"{plan.path.name}:message {offset + 1}+"
        yield stage(chunk, Arrival(arrival.source, arrival.arrived_at, origin, sent_at, True), offset)


def _stage_block(
    data: bytes | memoryview, has_envelope: bool, line_base: int, plan: FilePlan, arrival: Arrival, start: int
) -> tuple[pa.Table, int]:
    """The staged table of a block of whole lines, and how many lines it held.

    Lines are cut with NumPy and become an Arrow array over the block's own
    bytes (newlines included), without a copy or a Python object per line. ``has_envelope``: whether
    the block may hold an envelope line (it has a ``[`` and ``"batch"``).
    """
    bytes_ = np.frombuffer(data, dtype=np.uint8)
    ends = _newlines(bytes_) + 1
    if len(data) and data[-1] != 10:
        ends = np.append(ends, len(data))  # the file's last line, without a newline
    offsets = np.empty(len(ends) + 1, dtype=np.int32)
    offsets[0] = 0
    offsets[1:] = ends
    # Each line keeps its newline (see staging.py): cutting it off would copy the block.
    raw = pa.Array.from_buffers(pa.binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    numbers = pa.array(np.arange(line_base + 1, line_base + len(ends) + 1), pa.int64())
    keep = _not_blank(raw, bytes_, offsets)
    if keep is not None:
        raw, numbers = raw.filter(keep), numbers.filter(keep)
    text = _as_text(raw)
    table = stage(text, Arrival(arrival.source, arrival.arrived_at, f"{plan.path.name}:", None, True), start, numbers)
    if not has_envelope:
        return table, len(ends)  # no envelope can hide here: skip the query
    return expand_envelopes(table), len(ends)


_SCAN_BYTES = 1 << 22


def _newlines(data: np.ndarray) -> np.ndarray:
    """Positions of the newlines in ``data``.

    In slices through one small scratch buffer: comparing a whole block at
    once allocates a mask as large as the block, and touching that fresh
    memory cost more than the comparison.
    """
    scratch = np.empty(min(len(data), _SCAN_BYTES), dtype=bool)
    found = []
    for at in range(0, len(data), _SCAN_BYTES):
        part = data[at : at + _SCAN_BYTES]
        mask = scratch[: len(part)]
        np.equal(part, 10, out=mask)
        found.append(np.flatnonzero(mask) + at)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


# Bytes a blank line may start with: any ASCII control character or space,
# or the first byte of a multi-byte character (Unicode has whitespace
# beyond ASCII).
_MAY_START_BLANK = np.zeros(256, dtype=bool)
_MAY_START_BLANK[:0x21] = True  # control characters and space (Arrow trims 0x1c-0x1f too)
_MAY_START_BLANK[0x80:] = True


def _not_blank(raw: pa.Array, data: np.ndarray, offsets: np.ndarray) -> pa.Array | None:
    """Which lines hold more than whitespace; None when all of them do.

    Trimming every line copies the whole block; only a line that is empty
    or starts with a byte that may be whitespace can be blank, so only
    those few are trimmed.
    """
    starts = offsets[:-1]
    suspects = np.flatnonzero(_MAY_START_BLANK[data[np.minimum(starts, len(data) - 1)]])
    if not len(suspects):
        return None
    trimmed = pc.utf8_trim_whitespace(_as_text(raw.take(pa.array(suspects))))
    keep = np.ones(len(raw), dtype=bool)
    keep[suspects] = np.asarray(pc.greater(pc.binary_length(trimmed), 0).to_numpy(zero_copy_only=False))
    return pa.array(keep)


def _as_text(raw: pa.Array) -> pa.Array:
    try:
        return pc.cast(raw, pa.string())
    except pa.ArrowInvalid:
        # Keep undecodable lines (as text with replacement characters) so
        # that they reach the failed-messages store instead of vanishing.
        return pa.array([b.decode("utf-8", "replace") for b in raw.to_pylist()], pa.string())


# CASE, not AND: DuckDB evaluates both sides of AND, and json_type fails on non-JSON.
_IS_ENVELOPE = "CASE WHEN json_valid(raw) THEN coalesce(json_type(raw, '$.batch') = 'ARRAY', false) ELSE false END"


def expand_envelopes(table: pa.Table) -> pa.Table:
    """Replace each ``{"batch": [...]}`` row by one row per message it holds."""
    con = duckdb.connect()
    con.register("lines", table)
    has_envelope = con.execute(
        f"SELECT count(*) FROM lines WHERE {_IS_ENVELOPE}"
    ).fetchall()[0][0]
    if not has_envelope:
        return table
    expanded = con.sql(
        f"""
        WITH marked AS (
            SELECT *, {_IS_ENVELOPE} AS envelope FROM lines
        ), rows AS (
            SELECT ord, 0 AS sub, source, arrived_at, batch_sent_at, raw, origin, trust_received_at, line
            FROM marked WHERE NOT envelope
            UNION ALL
            SELECT ord, sub, source, arrived_at, batch_sent_at, message AS raw,
                   origin || coalesce(line::VARCHAR, '') || ' message ' || sub AS origin, trust_received_at,
                   NULL AS line
            FROM (
                SELECT ord, source, arrived_at, trust_received_at, origin, line,
                       json_extract_string(raw, '$.sentAt') AS batch_sent_at,
                       unnest(json_extract(raw, '$.batch[*]'))::VARCHAR AS message,
                       unnest(range(1, json_array_length(raw, '$.batch')::BIGINT + 1)) AS sub
                FROM marked WHERE envelope
            )
        )
        SELECT (min(ord) OVER ()) + row_number() OVER (ORDER BY ord, sub) - 1 AS ord,
               source, arrived_at, batch_sent_at, raw, origin, trust_received_at, line
        FROM rows ORDER BY ord, sub
        """
    ).to_arrow_table()
    return expanded.cast(STAGED_SCHEMA)


# ---- CSV and Parquet --------------------------------------------------------


def read_table(plan: FilePlan, arrival: Arrival, progress: Progress | None = None) -> Iterator[pa.Table]:
    """Staged tables of Segment messages built from a table's rows by its mapping."""
    assert plan.mapping is not None and plan.mapping_name is not None
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    reader = _reader(plan.path, plan.kind)
    described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    columns = [row[0] for row in described]
    types = {row[0]: str(row[1]).upper() for row in described}
    sql = mapping_sql(plan.mapping_name, plan.mapping, columns, reader, str(plan.path), types)
    sql = f"SELECT * FROM ({sql}) WHERE row_number <= {_stop(plan)}"  # rows added since planning wait
    start = 0
    # Fetch in Arrow record batches so that a large table streams through.
    reader_stream = con.sql(sql).to_arrow_reader(TABLE_CHUNK_ROWS)
    for record_batch in reader_stream:
        raws = record_batch.column("raw")
        rows = pc.cast(record_batch.column("row_number"), pa.int64())
        table = stage(raws, Arrival(arrival.source, arrival.arrived_at, f"{plan.path.name}:row ", None, False), start, rows)
        start += table.num_rows
        yield table
        if progress:
            progress(len(rows))


def mapping_sql(
    name: str,
    mapping: ImportMapping,
    columns: list[str],
    reader: str,
    file: str,
    types: Mapping[str, str] | None = None,
) -> str:
    """SQL that turns each row into a Segment message (JSON text).

    Date and time columns become ISO-8601 text in traits and properties,
    as an SDK would send them.
    """
    types = types or {}
    missing = sorted(mapping.columns() - set(columns))
    if missing:
        raise MappingError(
            f"{file}: mapping {name!r} reads column(s) {', '.join(missing)} that the file does not have "
            f"(it has: {', '.join(columns)}); fix `imports.{name}` in the configuration"
        )

    def col(column: str) -> str:
        return '"' + column.replace('"', '""') + '"'

    def ident(column: str | None) -> str:
        return f"nullif(trim({col(column)}::VARCHAR), '')" if column else "NULL"

    def obj(part: Mapping[str, str] | str, used: set[str]) -> str:
        pairs = part if isinstance(part, dict) else {c: c for c in columns if c not in used}
        if not pairs:
            return "NULL"
        inner = ", ".join(f"'{k.replace(chr(39), chr(39) * 2)}', {value(v)}" for k, v in pairs.items())
        return f"json_object({inner})"

    def value(column: str) -> str:
        kind = types.get(column, "")
        if kind.startswith("TIMESTAMP"):
            return f"strftime({col(column)}::TIMESTAMPTZ, '%Y-%m-%dT%H:%M:%S.%gZ')"
        if kind == "DATE":
            return f"strftime({col(column)}, '%Y-%m-%d')"
        return col(column)

    used = {c for c in (mapping.user_id, mapping.anonymous_id, mapping.timestamp, mapping.message_id) if c}
    fields = [f"'type', '{mapping.type}'"]
    if mapping.event:
        fields.append(f"'event', '{mapping.event.replace(chr(39), chr(39) * 2)}'")
    fields.append(f"'userId', {ident(mapping.user_id)}")
    fields.append(f"'anonymousId', {ident(mapping.anonymous_id)}")
    if mapping.message_id:
        fields.append(f"'messageId', '{name}:' || {ident(mapping.message_id)}")
    if mapping.timestamp:
        ts = col(mapping.timestamp)
        fields.append(
            "'timestamp', coalesce(strftime(try_cast(" + ts + " AS TIMESTAMPTZ), '%Y-%m-%dT%H:%M:%S.%fZ'), "
            + ts + "::VARCHAR)"
        )
    if mapping.type == "identify":
        fields.append(f"'traits', {obj(mapping.traits, used)}")
    else:
        fields.append(f"'properties', {obj(mapping.properties, used)}")
        if mapping.traits:
            fields.append(f"'context', json_object('traits', {obj(mapping.traits, used)})")
    return f"""
SELECT row_number() OVER () AS row_number, json_object({', '.join(fields)})::VARCHAR AS raw
FROM {reader}
"""


def reader_for(plan: FilePlan) -> Callable[[FilePlan, Arrival, Progress | None], Iterator[pa.Table]]:
    return read_jsonl if plan.kind == "jsonl" else read_table


def import_arrival(source: str, now: datetime) -> Arrival:
    return Arrival(source=source, arrived_at=now, origin="import", trust_received_at=True)
