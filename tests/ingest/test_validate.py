"""The Python validation path and the SQL path give identical results."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from message_strategies import messages

from segmint.ingest.normalize import normalize_sql
from segmint.ingest.staging import Arrival, stage
from segmint.ingest.validate import judge, message_key

_CON = duckdb.connect()
_CON.execute("SET TimeZone = 'UTC'")
ARRIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
JSON_COLUMNS = ("properties", "traits", "context", "integrations", "extra")

odd_lines = st.sampled_from(['{"type": "track", "userId": "u", "event": "E", "x": 1, "x": 2}',
                             '{"type": "track", "type": "track", "userId": "u", "event": "E"}', "not json", "[1, 2]", '"text"', "3", "null", '{"type": true, "userId": "u"}',
                             '{"type": {"a": 1}, "userId": "u"}', '{"type": "track", "userId": "u", "event": " "}',
                             # whitespace before the object; integers beyond 64 bits; escapes in a field read as text
                             ' \t{"type": "track", "userId": "u", "event": "E"}',
                             '{"type": "track", "userId": 18446744073709551615, "event": "E"}',
                             '{"type": "track", "userId": 18446744073709551616, "event": "E"}',
                             '{"type": "track", "userId": -9223372036854775809, "event": "E"}',
                             '{"type": "tr\\u0061ck", "userId": "a\\"b", "event": "\\u00e9"}'])


def both(raws, sent_at=None, trust=False):
    staged = stage(raws, Arrival("web", ARRIVED, "t", sent_at, trust))
    via_sql = _CON.sql(normalize_sql("staged")).to_arrow_table().to_pylist()
    via_python = judge(staged, _CON).to_pylist()
    return via_sql, via_python


@settings(max_examples=120, deadline=None)
@given(
    batch=st.lists(st.one_of(messages.map(lambda m: orjson.dumps(m).decode()), odd_lines), min_size=1, max_size=30),
    sent_at=st.sampled_from([None, "2026-01-02T03:00:00Z", "garbage"]),
    trust=st.booleans(),
)
def test_python_and_sql_validation_agree(batch, sent_at, trust):
    via_sql, via_python = both(batch, sent_at, trust)
    # A JSONL line is staged with its newline (staging.py): judged the same, by both.
    as_lines = both([raw + "\n" for raw in batch], sent_at, trust)
    assert as_lines == (via_sql, via_python)
    assert len(via_sql) == len(via_python)
    for sql_row, py_row in zip(via_sql, via_python):
        for column, value in sql_row.items():
            other = py_row[column]
            if column in JSON_COLUMNS:
                value = orjson.loads(value) if value is not None else None
                other = orjson.loads(other) if other is not None else None
            assert value == other, (column, sql_row["raw"])


def test_message_keys_match_duckdb():
    for source, message_id in [("web", "m1"), ("ios", "ünïcode-✓"), ("a", "")]:
        expected = _CON.execute(
            "SELECT md5_number_lower(? || chr(0) || ?), md5_number_upper(? || chr(0) || ?)",
            [source, message_id, source, message_id],
        ).fetchall()[0]
        assert message_key(source, message_id) == expected

