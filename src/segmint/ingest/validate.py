"""The validation rules of ``normalize.py``, in Python, for small batches.

DuckDB spends ~30 ms binding and optimising the normalisation query
whatever the batch size, which dominates a collector commit of a few
hundred messages. This module applies the same rules message by message in
Python and borrows DuckDB only for timestamps in unusual forms, with the
very SQL expression ``normalize.py`` uses (``instants.py``), so that what
counts as an ISO-8601 instant cannot drift. The collector runs it in its
request handlers, before the writer thread, on the messages it has already
parsed. The ingestor picks this path for small batches and the SQL path
for bulk imports; a differential test (tests/ingest/test_validate.py)
holds the two to identical results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from segmint.ingest.instants import FIRST_US, LAST_US, NULL, parse_instants
from segmint.ingest.staging import full_origins, message_text
from segmint.ingest.normalize import (
    ID_JSON_TYPES,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    OUT_OF_RANGE_REASON,
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


def judge(
    staged: pa.Table, con: duckdb.DuckDBPyConnection | None = None, messages: Sequence[Any] | None = None
) -> pa.Table:
    """The normalised table for ``staged``: the columns ``normalize_sql`` yields.

    Per message in Python for the checks; instants are parsed as DuckDB
    does (``instants.py``) and event times computed with NumPy, as
    microseconds. ``messages``, when given, are the staged texts already
    parsed (``orjson.loads(raw)`` of each, ``NOT_JSON`` where that fails),
    which spares parsing them twice; ``con`` is no longer needed.
    """
    raws: list[str] = [message_text(raw) for raw in staged.column("raw").to_pylist()]
    sources: list[str] = staged.column("source").to_pylist()
    count = len(raws)
    if messages is None:
        messages = [parse_message(raw) for raw in raws]
    texts: list[list[str | None]] = [[], [], [], []]
    for message in messages:
        is_dict = type(message) is dict
        for column, field in zip(texts, _INSTANTS):
            value = message.get(field) if is_dict else None
            column.append(value if type(value) is str else None)
    texts.append(staged.column("batch_sent_at").to_pylist())
    at = parse_instants(texts)
    at_timestamp, at_original, at_sent, at_received, at_batch = at
    arrived = staged.column("arrived_at").cast(pa.int64()).to_numpy()
    trust = staged.column("trust_received_at").to_numpy(zero_copy_only=False).astype(bool)
    sent = np.where(at_sent != NULL, at_sent, at_batch)
    received = np.where(trust & (at_received != NULL), at_received, arrived)
    event_time = np.where(
        at_timestamp != NULL,
        at_timestamp,
        np.where(
            at_original != NULL,
            np.where(sent != NULL, received - (sent - at_original), at_original),
            received,
        ),
    )

    # Plain ints: indexing NumPy arrays per message costs more than the checks.
    parsed = zip(at_timestamp.tolist(), at_original.tolist(), at_sent.tolist(), at_received.tolist())
    times = event_time.tolist()
    rows: list[tuple[Any, ...]] = []
    for raw, message, source, instants, when in zip(raws, messages, sources, parsed, times):
        if message is _NOT_JSON:
            rows.append(_failed_row(raw, "not valid JSON", message, _NO_IDS))
            continue
        ids = _ids(message) if type(message) is dict else _NO_IDS
        # UTF-8 takes at most 4 bytes a character: count bytes only when it could matter.
        size = len(raw) if len(raw) * 4 <= MAX_MESSAGE_BYTES else len(raw.encode())
        reason = _structural_reason(message, size, ids)
        if reason is None:
            reason = _late_reason(message, *instants)
        if reason is None and not FIRST_US <= when <= LAST_US:
            reason = OUT_OF_RANGE_REASON
        rows.append(_valid_row(raw, message, source, ids) if reason is None else _failed_row(raw, reason, message, ids))
    columns = dict(zip(_TEXT_OUTPUT, zip(*rows))) if rows else {name: () for name in _TEXT_OUTPUT}
    valid = np.fromiter((r is None for r in columns["reason"]), dtype=bool, count=count)

    event_time = np.where(valid, event_time, NULL)  # no event time for a message that failed
    out: dict[str, Any] = {
        "ord": staged.column("ord"),
        "source": staged.column("source"),
        "origin": full_origins(staged),
    }
    for name, kind in _OUTPUT.items():
        if name in _TIME_OUTPUT:
            values = {"received_at": received, "event_time": event_time, "timestamp": at_timestamp,
                      "original_timestamp": at_original, "sent_at": sent}[name]
            out[name] = pa.array(values, pa.int64(), mask=values == NULL).cast(_TS)
        else:
            out[name] = pa.array(columns[name], kind)
    return pa.table(out)


NOT_JSON = _NOT_JSON = object()  # a text that is not JSON


def parse_message(raw: str) -> Any:
    """A message text parsed as validation reads it: ``NOT_JSON`` when it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _NOT_JSON

_NO_IDS: dict[str, Any] = dict.fromkeys(_IDS)


def _late_reason(message: dict[str, Any], *parsed: int) -> str | None:
    """The checks after the structural ones: instants, then objects."""
    for field, value in zip(_INSTANTS, parsed):
        present = message.get(field)
        if present is not None and (type(present) is not str or value == NULL):
            return f"{field} is not an ISO-8601 date-time in the years 1 to 9999: {as_text(present)}"
    for field in _OBJECTS:
        present = message.get(field)
        if present is not None and type(present) is not dict:
            return f"{field} must be a JSON object"
    return None


# A row's text columns, in _TEXT_OUTPUT order:
# raw, reason, message_id, msg_key, msg_key_hi, type, event, name, user_id, anonymous_id,
# previous_id, group_id, properties, traits, context, integrations, extra


def _valid_row(raw: str, message: dict[str, Any], source: str, ids: dict[str, Any]) -> tuple[Any, ...]:
    get = message.get
    kind = get("type")
    full_id = ids["messageId"] or "md5-" + hashlib.md5(raw.encode()).hexdigest()
    low, high = message_key(source, full_id)
    event = get("event") if kind == "track" else None
    name = get("name")
    properties, traits, context, integrations = _objects(get, kind)
    extra = {k: v for k, v in message.items() if k not in _KNOWN_SET}
    return (
        None, None, full_id, low, high, kind,
        as_text(event) if event is not None else None,
        name if (kind == "page" or kind == "screen") and type(name) is str else None,
        ids["userId"], ids["anonymousId"], ids["previousId"], ids["groupId"],
        properties, traits, context, integrations,
        dumps(extra) if extra else None,
    )  # fmt: skip


def _failed_row(raw: str, reason: str, message: Any, ids: dict[str, Any]) -> tuple[Any, ...]:
    get = message.get if type(message) is dict else _nothing
    kind = get("type")
    event = get("event") if kind == "track" else None
    name = get("name")
    properties, traits, context, integrations = _objects(get, kind)
    return (
        raw, reason, None, None, None, None,
        as_text(event) if event is not None else None,
        name if (kind == "page" or kind == "screen") and type(name) is str else None,
        *(None if ids[field] is _BAD else ids[field] for _, field in _ID_COLUMNS),
        properties, traits, context, integrations, None,
    )  # fmt: skip


def _objects(get: Any, kind: Any) -> tuple[str | None, ...]:
    properties, traits, context, integrations = get("properties"), get("traits"), get("context"), get("integrations")
    if type(traits) is not dict and kind == "identify":
        # Some SDKs (rudder-sdk-python) send identify traits only in context.traits.
        traits = context.get("traits") if type(context) is dict else None
    return (
        dumps(properties) if type(properties) is dict else None,
        dumps(traits) if type(traits) is dict else None,
        dumps(context) if type(context) is dict else None,
        dumps(integrations) if type(integrations) is dict else None,
    )


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
assert _TEXT_OUTPUT == (
    "raw", "reason", "message_id", "msg_key", "msg_key_hi", "type", "event", "name", "user_id", "anonymous_id",
    "previous_id", "group_id", "properties", "traits", "context", "integrations", "extra",
)  # the order _valid_row and _failed_row build  # fmt: skip


def message_key(source: str, message_id: str) -> tuple[int, int]:
    """DuckDB's md5_number_lower and _upper of (source || chr(0) || message_id), in Python."""
    digest = hashlib.md5(f"{source}\x00{message_id}".encode()).digest()
    return int.from_bytes(digest[8:], "little"), int.from_bytes(digest[:8], "little")


__all__ = ["judge", "json_type", "message_key", "datetime"]
