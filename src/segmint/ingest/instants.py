"""Instants as DuckDB reads them, fast for the forms SDKs send.

The rule for what counts as an instant is ``normalize.instant_sql`` (an
ISO-8601 date-time DuckDB can cast, within the years 1 to 9999). Asking
DuckDB costs a query per batch (~5 ms for a few hundred messages, most of
it fixed), which dominated the collector's Python validation. Here the
forms SDKs actually send (``2026-10-01T12:00:00.123Z``, ``+02:00``, no
offset meaning UTC) are computed in Python; any other text, and any text
Python refuses (``2026-02-30``, hour 24, a leap second), goes to DuckDB with
the very SQL of ``normalize.py``. A property test
(tests/ingest/test_instants.py) holds the fast path to DuckDB's answers.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa

from segmint.ingest.normalize import instant_sql

NULL = np.iinfo(np.int64).min  # no instant
FIRST_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
LAST_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
_EPOCH_DAY = date(1970, 1, 1).toordinal()

# ASCII digits only ([0-9], not \d, which matches any Unicode digit).
_COMMON = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,6}))?(Z|[+-][0-9]{2}:[0-9]{2})?"
)


def fast_instant(text: str) -> int | None:
    """Microseconds since the epoch for a common ISO form; None when DuckDB must decide."""
    m = _COMMON.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    h, mi, s = int(hour), int(minute), int(second)
    if h > 23 or mi > 59 or s > 59:
        return None
    try:
        days = date(int(year), int(month), int(day)).toordinal() - _EPOCH_DAY
    except ValueError:
        return None
    micros = ((days * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000) + (int(fraction.ljust(6, "0")) if fraction else 0)
    if offset and offset != "Z":
        oh, om = int(offset[1:3]), int(offset[4:6])
        if oh > 15 or om > 59:  # DuckDB's own limits decide the unusual ones
            return None
        shift = (oh * 3600 + om * 60) * 1_000_000
        micros = micros - shift if offset[0] == "+" else micros + shift
    return micros if FIRST_US <= micros <= LAST_US else NULL


_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")  # an instant without offset is UTC, as in the store
        _local.con = con
    return con


def parse_instants(columns: Sequence[Sequence[str | None]]) -> list[np.ndarray]:
    """Each column of texts as microseconds since the epoch (``NULL`` where none)."""
    out: list[np.ndarray] = []
    slow: list[tuple[int, int, str]] = []  # (column, row, text) for DuckDB
    cache: dict[str, int | None] = {}
    for c, texts in enumerate(columns):
        values = np.full(len(texts), NULL, dtype=np.int64)
        for i, text in enumerate(texts):
            if text is None:
                continue
            found = cache.get(text, cache)
            if found is cache:
                found = cache[text] = fast_instant(text)
            if found is None:
                slow.append((c, i, text))
            else:
                values[i] = found
        out.append(values)
    if slow:
        for (c, i, _), value in zip(slow, duckdb_instants([text for _, _, text in slow])):
            out[c][i] = value
    return out


def duckdb_instants(texts: Sequence[str | None]) -> np.ndarray:
    """The texts parsed by DuckDB with ``normalize.instant_sql``."""
    table = pa.table({"t": pa.array(texts, pa.string())})
    con = _connection()
    con.register("instant_texts", table)
    try:
        result = con.execute(
            f"SELECT coalesce(epoch_us({instant_sql('t')}), {NULL}) AS t FROM instant_texts"
        ).fetchnumpy()
    finally:
        con.unregister("instant_texts")
    return np.asarray(result["t"], dtype=np.int64)
