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
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from segmint.ingest.normalize import (
    ID_JSON_TYPES,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
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


def as_text(value: Any) -> str:
    """A JSON value as DuckDB renders it when read as VARCHAR."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()


def _present(message: dict[str, Any], field: str) -> bool:
    return message.get(field) is not None


def _id(message: dict[str, Any], field: str) -> str | None:
    value = message.get(field)
    if json_type(value) not in ID_JSON_TYPES:
        return None
    text = str(value).strip(_SPACES)
    return text or None


def _structural_reason(message: Any, size: int) -> str | None:
    """Every check that does not need a parsed timestamp, in the SQL order."""
    if not isinstance(message, dict):
        return f"a message must be a JSON object, not {(json_type(message) or 'unknown').lower()}"
    if size > MAX_MESSAGE_BYTES:
        return f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES} bytes (32 KB)"
    kind = message.get("type")
    if kind is None:
        return f"missing type: expected one of {_TYPES_TEXT}"
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        return 'unknown type "' + as_text(kind) + '": expected one of ' + _TYPES_TEXT
    for field in _IDS:
        if _present(message, field) and json_type(message[field]) not in ID_JSON_TYPES:
            return f"{field} must be a string or an integer"
    user, anonymous = _id(message, "userId"), _id(message, "anonymousId")
    if kind != "alias" and user is None and anonymous is None:
        return "a message needs a userId or an anonymousId"
    if kind == "track":
        event = message.get("event")
        if not isinstance(event, str) or event.strip(_SPACES) == "":
            return "a track message needs an event name (a non-empty string)"
    if kind in ("page", "screen") and _present(message, "name") and not isinstance(message["name"], str):
        return "name must be a string"
    if kind == "alias" and (_id(message, "previousId") is None or user is None):
        return "an alias message needs both previousId and userId"
    if kind == "group" and _id(message, "groupId") is None:
        return "a group message needs a groupId"
    return None


def _instant_texts(message: Any) -> list[str | None]:
    if not isinstance(message, dict):
        return [None] * 4
    return [message.get(f) if isinstance(message.get(f), str) else None for f in _INSTANTS]


def judge(staged: pa.Table, con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The normalised table for ``staged``: the columns ``normalize_sql`` yields."""
    raws: list[str] = staged.column("raw").to_pylist()
    parsed: list[Any] = []
    valid_json: list[bool] = []
    for raw in raws:
        try:
            parsed.append(orjson.loads(raw))
            valid_json.append(True)
        except orjson.JSONDecodeError:
            parsed.append(None)
            valid_json.append(False)
    instants = _parse_instants(con, parsed, staged)
    arrived = staged.column("arrived_at").to_pylist()
    sources = staged.column("source").to_pylist()
    trust = staged.column("trust_received_at").to_pylist()

    columns: dict[str, list[Any]] = {name: [] for name in _OUTPUT}
    for i, (raw, message, ok) in enumerate(zip(raws, parsed, valid_json)):
        at_timestamp, at_original, at_sent, at_received, at_batch = instants[i]
        reason = "not valid JSON" if not ok else _structural_reason(message, len(raw.encode()))
        if reason is None:
            for field, value in zip(_INSTANTS, (at_timestamp, at_original, at_sent, at_received)):
                if _present(message, field) and (not isinstance(message[field], str) or value is None):
                    reason = f"{field} is not an ISO-8601 date-time: {as_text(message[field])}"
                    break
        if reason is None:
            for field in _OBJECTS:
                if _present(message, field) and not isinstance(message[field], dict):
                    reason = f"{field} must be a JSON object"
                    break
        sent = at_sent if at_sent is not None else at_batch
        received = (at_received if at_received is not None else arrived[i]) if trust[i] else arrived[i]
        is_dict = isinstance(message, dict)
        kind = message.get("type") if is_dict else None
        valid = reason is None
        if at_timestamp is not None:
            event_time = at_timestamp
        elif at_original is not None and sent is not None:
            event_time = received - (sent - at_original)
        elif at_original is not None:
            event_time = at_original
        else:
            event_time = received
        columns["reason"].append(reason)
        columns["raw"].append(raw if not valid else None)
        columns["received_at"].append(received)
        message_id = _id(message, "messageId") if is_dict else None
        full_id = (message_id or "md5-" + hashlib.md5(raw.encode()).hexdigest()) if valid else None
        columns["message_id"].append(full_id)
        columns["msg_key"].append(message_key(sources[i], full_id) if full_id is not None else None)
        columns["type"].append(kind if valid else None)
        event = message.get("event") if is_dict and kind == "track" else None
        columns["event"].append(as_text(event) if event is not None else None)
        name = message.get("name") if is_dict else None
        columns["name"].append(name if kind in ("page", "screen") and isinstance(name, str) else None)
        for column, field in (("user_id", "userId"), ("anonymous_id", "anonymousId"),
                              ("previous_id", "previousId"), ("group_id", "groupId")):
            columns[column].append(_id(message, field) if is_dict else None)
        columns["event_time"].append(event_time)
        columns["timestamp"].append(at_timestamp)
        columns["original_timestamp"].append(at_original)
        columns["sent_at"].append(sent)
        for field in _OBJECTS:
            value = message.get(field) if is_dict else None
            columns[field].append(orjson.dumps(value).decode() if isinstance(value, dict) else None)
        extra = {k: v for k, v in message.items() if k not in _KNOWN} if is_dict and valid else None
        columns["extra"].append(orjson.dumps(extra).decode() if extra else None)

    out = {
        "ord": staged.column("ord"),
        "source": staged.column("source"),
        "origin": staged.column("origin"),
    }
    for name, kind in _OUTPUT.items():
        out[name] = pa.array(columns[name], kind)
    return pa.table(out)


_TS = pa.timestamp("us", tz="UTC")
_OUTPUT: dict[str, pa.DataType] = {
    "raw": pa.string(), "reason": pa.string(), "received_at": _TS, "message_id": pa.string(),
    "msg_key": pa.uint64(), "type": pa.string(),
    "event": pa.string(), "name": pa.string(), "user_id": pa.string(), "anonymous_id": pa.string(),
    "previous_id": pa.string(), "group_id": pa.string(), "event_time": _TS, "timestamp": _TS,
    "original_timestamp": _TS, "sent_at": _TS, "properties": pa.string(), "traits": pa.string(),
    "context": pa.string(), "integrations": pa.string(), "extra": pa.string(),
}  # fmt: skip


def _parse_instants(con: duckdb.DuckDBPyConnection, parsed: list[Any], staged: pa.Table) -> list[tuple]:
    texts = [_instant_texts(m) for m in parsed]
    table = pa.table(
        {
            "a": pa.array([t[0] for t in texts], pa.string()),
            "b": pa.array([t[1] for t in texts], pa.string()),
            "c": pa.array([t[2] for t in texts], pa.string()),
            "d": pa.array([t[3] for t in texts], pa.string()),
            "e": staged.column("batch_sent_at"),
        }
    )
    con.register("instant_texts", table)
    try:
        result = con.sql(
            "SELECT " + ", ".join(f"{instant_sql(c)} AS {c}" for c in "abcde") + " FROM instant_texts"
        ).fetchall()
    finally:
        con.unregister("instant_texts")
    return result


def message_key(source: str, message_id: str) -> int:
    """DuckDB's md5_number_lower(source || chr(0) || message_id), in Python."""
    digest = hashlib.md5(f"{source}\x00{message_id}".encode()).digest()
    return int.from_bytes(digest[8:], "little")


__all__ = ["judge", "json_type", "message_key", "datetime"]
