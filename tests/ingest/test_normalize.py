"""Validation and event time: the SQL rules against a plain-Python reference."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.ingest.normalize import MAX_MESSAGE_BYTES, normalize_sql
from segmint.ingest.staging import Arrival, stage
from message_strategies import TYPES, messages

ARRIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


_CON = duckdb.connect()
_CON.execute("SET TimeZone = 'UTC'")


def run(raws: list[str], sent_at: str | None = None, trust: bool = False) -> list[dict]:
    con = _CON
    staged = stage(raws, Arrival("web", ARRIVED, "test", sent_at, trust))
    return con.sql(normalize_sql("staged")).to_arrow_table().to_pylist()


def parse_iso(value):
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# The Unicode space separators (category Zs), which trimming removes.
SPACES = "".join(chr(c) for c in range(0x110000) if __import__("unicodedata").category(chr(c)) == "Zs")


def reference_valid(message) -> bool:
    """Segment's rules, written as plainly as possible."""
    if not isinstance(message, dict):
        return False
    kind = message.get("type")
    if kind not in TYPES:
        return False

    def ident(name):
        value = message.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise TypeError
        text = str(value).strip(SPACES)
        return text or None

    try:
        ids = {name: ident(name) for name in ("userId", "anonymousId", "previousId", "groupId", "messageId")}
    except TypeError:
        return False
    if kind != "alias" and not (ids["userId"] or ids["anonymousId"]):
        return False
    if kind == "track" and not (isinstance(message.get("event"), str) and message["event"].strip(SPACES)):
        return False
    if kind in ("page", "screen") and message.get("name") is not None and not isinstance(message["name"], str):
        return False
    if kind == "alias" and not (ids["previousId"] and ids["userId"]):
        return False
    if kind == "group" and not ids["groupId"]:
        return False
    for field in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
        if message.get(field) is not None and parse_iso(message[field]) is None:
            return False
    for field in ("properties", "traits", "context", "integrations"):
        if message.get(field) is not None and not isinstance(message[field], dict):
            return False
    try:
        reference_event_time(message)
    except OverflowError:  # the derived event time falls outside the years 1 to 9999
        return False
    return True


def reference_event_time(message, batch_sent_at=None):
    """timestamp, else originalTimestamp corrected by the sentAt skew, else originalTimestamp, else received."""
    ts, original = parse_iso(message.get("timestamp")), parse_iso(message.get("originalTimestamp"))
    sent = parse_iso(message.get("sentAt")) or parse_iso(batch_sent_at)
    if ts is not None:
        return ts
    if original is not None and sent is not None:
        return ARRIVED - (sent - original)
    return original if original is not None else ARRIVED


@settings(max_examples=120, deadline=None)
@given(st.lists(messages, min_size=1, max_size=40))
def test_sql_validation_agrees_with_the_reference(batch):
    rows = run([orjson.dumps(m).decode() for m in batch])
    assert [row["reason"] is None for row in rows] == [reference_valid(m) for m in batch]
    for message, row in zip(batch, rows):
        if row["reason"] is not None:
            continue
        assert row["type"] == message["type"]
        assert row["event_time"] == reference_event_time(message)


def test_skew_uses_the_batch_sent_at_when_the_message_has_none():
    message = {"type": "track", "event": "E", "userId": "u", "originalTimestamp": "2026-01-02T03:00:00Z"}
    (row,) = run([orjson.dumps(message).decode()], sent_at="2026-01-02T03:00:10Z")
    assert row["event_time"] == ARRIVED - timedelta(seconds=10)


def test_a_file_message_keeps_its_own_received_at():
    message = {"type": "track", "event": "E", "userId": "u", "receivedAt": "2025-05-05T05:05:05Z"}
    (row,) = run([orjson.dumps(message).decode()], trust=True)
    assert row["event_time"] == datetime(2025, 5, 5, 5, 5, 5, tzinfo=timezone.utc)
    (row,) = run([orjson.dumps(message).decode()], trust=False)
    assert row["event_time"] == ARRIVED


def test_reasons_say_what_is_wrong():
    raws = [
        "{not json",
        "[1, 2]",
        orjson.dumps({"type": "track", "userId": "u"}).decode(),
        orjson.dumps({"type": "page"}).decode(),
        orjson.dumps({"type": "track", "event": "E", "userId": "u", "timestamp": "soon"}).decode(),
        orjson.dumps({"type": "track", "event": "E", "userId": "u", "p": "x" * MAX_MESSAGE_BYTES}).decode(),
    ]
    reasons = [row["reason"] for row in run(raws)]
    assert reasons[0] == "not valid JSON"
    assert "JSON object" in reasons[1]
    assert "event name" in reasons[2]
    assert "userId or an anonymousId" in reasons[3]
    assert "timestamp is not an ISO-8601" in reasons[4] and "soon" in reasons[4]
    assert "32 KB" in reasons[5]


def test_unknown_top_level_fields_are_kept():
    message = {"type": "identify", "userId": "u", "channel": "server", "version": 2, "_metadata": {"x": 1}}
    (row,) = run([orjson.dumps(message).decode()])
    assert orjson.loads(row["extra"]) == {"channel": "server", "version": 2, "_metadata": {"x": 1}}


def test_message_without_id_gets_a_content_hash_id():
    raw = orjson.dumps({"type": "track", "event": "E", "userId": "u"}).decode()
    first, second = run([raw, raw])
    assert first["message_id"] == second["message_id"]
    assert first["message_id"].startswith("md5-")
