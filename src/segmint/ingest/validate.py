"""The validation rules of ``normalize.py``, in Python, for small batches.

DuckDB spends ~30 ms binding and optimising the normalisation query
whatever the batch size, which dominates a collector commit of a few
hundred messages. This module applies the same rules message by message in
Python (about 10 µs a message) and borrows DuckDB only for parsing
timestamps, with the very SQL expression ``normalize.py`` uses, so that
what counts as an ISO-8601 instant cannot drift. The ingestor picks this
path for small batches and the SQL path for bulk imports; a differential
test (tests/ingest/test_validate.py) holds the two to identical results.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from segmint.ingest.normalize import (
    ID_JSON_TYPES,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    OUT_OF_RANGE_REASON,
    instant_sql,
)

_KNOWN = (
    "type", "messageId", "userId", "anonymousId", "event", "name", "previousId", "groupId",
    "timestamp", "originalTimestamp", "sentAt", "receivedAt", "properties", "traits", "context",
    "integrations",
)  # fmt: skip
_IDS = ("messageId", "userId", "anonymousId", "previousId", "groupId")
_INSTANTS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
_OBJECTS = ("properties", "traits", "context", "integrations")
_TYPES_TEXT = ", ".join(MESSAGE_TYPES)
# DuckDB's trim() removes the Unicode space separators (category Zs), and
# only those: tabs and newlines stay.
_SPACES = "\u0020\u00a0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u202f\u205f\u3000"
_UBIGINT_MAX = 2**64 - 1


def json_type(value: Any) -> str | None:
    """DuckDB's json_type name for a parsed JSON value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, str):
        return "VARCHAR"
    if isinstance(value, int):
        # DuckDB types a non-negative integer UBIGINT and a negative one BIGINT.
        if 0 <= value <= _UBIGINT_MAX:
            return "UBIGINT"
        return "BIGINT" if value >= -(2**63) else "DOUBLE"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, dict):
        return "OBJECT"
    if isinstance(value, list):
        return "ARRAY"
    return None


def dumps(value: Any) -> str:
    """JSON text; the standard library takes over past orjson's nesting limit (254 levels)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_text(value: Any) -> str:
    """A JSON value as DuckDB renders it when read as VARCHAR."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()


_BAD = object()  # an identifier of the wrong JSON type


def _ids(message: dict[str, Any]) -> dict[str, Any]:
    """Each identifier field: its text, None when absent or empty, _BAD when of the wrong type."""
    out: dict[str, Any] = {}
    for field in _IDS:
        value = message.get(field)
        if value is None:
            out[field] = None
        elif type(value) is str:
            out[field] = value.strip(_SPACES) or None
        elif json_type(value) in ID_JSON_TYPES:
            out[field] = str(value).strip(_SPACES) or None
        else:
            out[field] = _BAD
    return out


def _structural_reason(message: Any, size: int, ids: dict[str, Any]) -> str | None:
    """Every check that does not need a parsed timestamp, in the SQL order."""
    if type(message) is not dict:
        return f"a message must be a JSON object, not {(json_type(message) or 'unknown').lower()}"
    if size > MAX_MESSAGE_BYTES:
        return f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES} bytes (32 KB)"
    kind = message.get("type")
    if kind is None:
        return f"missing type: expected one of {_TYPES_TEXT}"
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        return 'unknown type "' + as_text(kind) + '": expected one of ' + _TYPES_TEXT
    for field in _IDS:
        if ids[field] is _BAD:
            return f"{field} must be a string or an integer"
    user, anonymous = ids["userId"], ids["anonymousId"]
    if kind != "alias" and user is None and anonymous is None:
        return "a message needs a userId or an anonymousId"
    if kind == "track":
        event = message.get("event")
        if not isinstance(event, str) or event.strip(_SPACES) == "":
            return "a track message needs an event name (a non-empty string)"
    if kind in ("page", "screen") and message.get("name") is not None and not isinstance(message["name"], str):
        return "name must be a string"
    if kind == "alias" and (ids["previousId"] is None or user is None):
        return "an alias message needs both previousId and userId"
    if kind == "group" and ids["groupId"] is None:
        return "a group message needs a groupId"
    return None


_NULL = np.iinfo(np.int64).min  # no instant
_FIRST_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z
_LAST_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def judge(staged: pa.Table, con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The normalised table for ``staged``: the columns ``normalize_sql`` yields.

    Per message in Python for the checks; instants are parsed by DuckDB in
    one query and event times computed with NumPy, as microseconds.
    """
    raws: list[str] = staged.column("raw").to_pylist()
    sources: list[str] = staged.column("source").to_pylist()
    count = len(raws)
    messages: list[Any] = []
    texts: list[list[str | None]] = [[], [], [], []]
    for raw in raws:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            message = _NOT_JSON
        messages.append(message)
        is_dict = type(message) is dict
        for column, field in zip(texts, _INSTANTS):
            value = message.get(field) if is_dict else None
            column.append(value if type(value) is str else None)
    at = _parse_instants(con, texts, staged.column("batch_sent_at"))
    at_timestamp, at_original, at_sent, at_received, at_batch = at
    arrived = staged.column("arrived_at").cast(pa.int64()).to_numpy()
    trust = staged.column("trust_received_at").to_numpy(zero_copy_only=False).astype(bool)
    sent = np.where(at_sent != _NULL, at_sent, at_batch)
    received = np.where(trust & (at_received != _NULL), at_received, arrived)
    event_time = np.where(
        at_timestamp != _NULL,
        at_timestamp,
        np.where(
            at_original != _NULL,
            np.where(sent != _NULL, received - (sent - at_original), at_original),
            received,
        ),
    )

    columns: dict[str, list[Any]] = {name: [] for name in _TEXT_OUTPUT}
    valid = np.zeros(count, dtype=bool)
    for i in range(count):
        raw, message = raws[i], messages[i]
        ids = _ids(message) if type(message) is dict else _NO_IDS
        if message is _NOT_JSON:
            reason: str | None = "not valid JSON"
        else:
            reason = _structural_reason(message, len(raw.encode()), ids)
            if reason is None:
                reason = _late_reason(message, at_timestamp[i], at_original[i], at_sent[i], at_received[i])
            if reason is None and not _FIRST_US <= event_time[i] <= _LAST_US:
                reason = OUT_OF_RANGE_REASON
        _row(columns, raw, message, reason, sources[i], ids)
        valid[i] = reason is None

    event_time = np.where(valid, event_time, _NULL)  # no event time for a message that failed
    out: dict[str, Any] = {
        "ord": staged.column("ord"),
        "source": staged.column("source"),
        "origin": staged.column("origin"),
    }
    for name, kind in _OUTPUT.items():
        if name in _TIME_OUTPUT:
            values = {"received_at": received, "event_time": event_time, "timestamp": at_timestamp,
                      "original_timestamp": at_original, "sent_at": sent}[name]
            out[name] = pa.array(values, pa.int64(), mask=values == _NULL).cast(_TS)
        else:
            out[name] = pa.array(columns[name], kind)
    return pa.table(out)


_NOT_JSON = object()
_NO_IDS: dict[str, Any] = dict.fromkeys(_IDS)


def _late_reason(message: dict[str, Any], *parsed: int) -> str | None:
    """The checks after the structural ones: instants, then objects."""
    for field, value in zip(_INSTANTS, parsed):
        present = message.get(field)
        if present is not None and (type(present) is not str or value == _NULL):
            return f"{field} is not an ISO-8601 date-time in the years 1 to 9999: {as_text(present)}"
    for field in _OBJECTS:
        present = message.get(field)
        if present is not None and type(present) is not dict:
            return f"{field} must be a JSON object"
    return None


def _row(
    columns: dict[str, list[Any]], raw: str, message: Any, reason: str | None, source: str, ids: dict[str, Any]
) -> None:
    is_dict = type(message) is dict
    valid = reason is None
    get = message.get if is_dict else _nothing
    kind = get("type")
    columns["reason"].append(reason)
    columns["raw"].append(None if valid else raw)
    if valid:
        full_id = ids["messageId"] or "md5-" + hashlib.md5(raw.encode()).hexdigest()
        columns["message_id"].append(full_id)
        low, high = message_key(source, full_id)
        columns["msg_key"].append(low)
        columns["msg_key_hi"].append(high)
        columns["type"].append(kind)
    else:
        columns["message_id"].append(None)
        columns["msg_key"].append(None)
        columns["msg_key_hi"].append(None)
        columns["type"].append(None)
    event = get("event") if kind == "track" else None
    columns["event"].append(as_text(event) if event is not None else None)
    name = get("name")
    columns["name"].append(name if (kind == "page" or kind == "screen") and type(name) is str else None)
    for column, field in _ID_COLUMNS:
        value = ids[field]
        columns[column].append(None if value is _BAD else value)
    for field in _OBJECTS:
        value = get(field)
        if field == "traits" and type(value) is not dict and kind == "identify":
            # Some SDKs (rudder-sdk-python) send identify traits only in context.traits.
            context = get("context")
            value = context.get("traits") if type(context) is dict else None
        columns[field].append(dumps(value) if type(value) is dict else None)
    if valid:
        extra = {k: v for k, v in message.items() if k not in _KNOWN_SET}
        columns["extra"].append(dumps(extra) if extra else None)
    else:
        columns["extra"].append(None)


def _nothing(key: str) -> None:
    return None


_KNOWN_SET = frozenset(_KNOWN)
_ID_COLUMNS = (("user_id", "userId"), ("anonymous_id", "anonymousId"), ("previous_id", "previousId"),
               ("group_id", "groupId"))
_TS = pa.timestamp("us", tz="UTC")
_OUTPUT: dict[str, pa.DataType] = {
    "raw": pa.string(), "reason": pa.string(), "received_at": _TS, "message_id": pa.string(),
    "msg_key": pa.uint64(), "msg_key_hi": pa.uint64(), "type": pa.string(),
    "event": pa.string(), "name": pa.string(), "user_id": pa.string(), "anonymous_id": pa.string(),
    "previous_id": pa.string(), "group_id": pa.string(), "event_time": _TS, "timestamp": _TS,
    "original_timestamp": _TS, "sent_at": _TS, "properties": pa.string(), "traits": pa.string(),
    "context": pa.string(), "integrations": pa.string(), "extra": pa.string(),
}  # fmt: skip
_TIME_OUTPUT = frozenset({"received_at", "event_time", "timestamp", "original_timestamp", "sent_at"})
_TEXT_OUTPUT = tuple(name for name in _OUTPUT if name not in _TIME_OUTPUT)


def _parse_instants(
    con: duckdb.DuckDBPyConnection, texts: list[list[str | None]], batch_sent_at: pa.ChunkedArray
) -> list[np.ndarray]:
    """Each instant column as microseconds since the epoch (``_NULL`` when none)."""
    table = pa.table(
        {
            "a": pa.array(texts[0], pa.string()),
            "b": pa.array(texts[1], pa.string()),
            "c": pa.array(texts[2], pa.string()),
            "d": pa.array(texts[3], pa.string()),
            "e": batch_sent_at,
        }
    )
    con.register("instant_texts", table)
    try:
        result = con.execute(
            "SELECT "
            + ", ".join(f"coalesce(epoch_us({instant_sql(c)}), {_NULL}) AS {c}" for c in "abcde")
            + " FROM instant_texts"
        ).fetchnumpy()
    finally:
        con.unregister("instant_texts")
    return [np.asarray(result[c], dtype=np.int64) for c in "abcde"]


def message_key(source: str, message_id: str) -> tuple[int, int]:
    """DuckDB's md5_number_lower and _upper of (source || chr(0) || message_id), in Python."""
    digest = hashlib.md5(f"{source}\x00{message_id}".encode()).digest()
    return int.from_bytes(digest[8:], "little"), int.from_bytes(digest[:8], "little")


__all__ = ["judge", "json_type", "message_key", "datetime"]
