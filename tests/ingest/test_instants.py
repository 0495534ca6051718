"""The Python fast path for instants gives DuckDB's answers."""

from __future__ import annotations

import duckdb
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.ingest.instants import NULL, duckdb_instants, fast_instant, parse_instants
from segmint.ingest.normalize import instant_sql

_CON = duckdb.connect()
_CON.execute("SET TimeZone = 'UTC'")


def duckdb_value(text: str) -> int:
    found = _CON.execute(f"SELECT coalesce(epoch_us({instant_sql('$1')}), {NULL})", [text]).fetchall()[0][0]
    return int(found)


def digits(n: int, low: int = 0, high: int | None = None) -> st.SearchStrategy[str]:
    high = 10**n - 1 if high is None else high
    return st.integers(low, high).map(lambda v: str(v).zfill(n))


# Near the common form: every field in and just out of range, every separator and offset.
common_ish = st.tuples(
    st.one_of(digits(4), st.sampled_from(["0000", "0001", "1969", "1970", "9999"])),
    st.just("-"), digits(2, 0, 13), st.just("-"), digits(2, 0, 32), st.sampled_from(["T", "T", " ", "t", "_"]),
    digits(2, 0, 25), st.just(":"), digits(2, 0, 61), st.just(":"), digits(2, 0, 61),
    st.one_of(st.just(""), st.text("0123456789", min_size=0, max_size=8).map(lambda f: "." + f)),
    st.one_of(st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+0530", "+05", "UTC"]),
              st.tuples(st.sampled_from("+-"), digits(2, 0, 25), digits(2, 0, 61))
              .map(lambda t: f"{t[0]}{t[1]}:{t[2]}")),
).map("".join)


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(common_ish, st.text(max_size=30)))
def test_fast_path_agrees_with_duckdb(text):
    fast = fast_instant(text)
    if fast is not None:
        assert fast == duckdb_value(text), text


def test_the_forms_sdks_send_take_the_fast_path():
    for text in ["2026-10-01T12:00:00Z", "2026-10-01T12:00:00.123Z", "2026-10-01T12:00:00.123456+02:00",
                 "2026-10-01 12:00:00", "2026-10-01T12:00:00-05:30"]:
        assert fast_instant(text) == duckdb_value(text), text


def test_the_edges_of_the_range():
    for text in ["0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59.999999Z",
                 "9999-12-31T23:59:59-01:00", "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z",
                 "1969-12-31T23:59:59.5Z", "2026-10-01 12:00:00", "2026-10-01T12:00:00.1234567Z"]:
        assert parse_instants([[text]])[0][0] == duckdb_value(text), text


def test_parse_instants_mixes_both_paths():
    texts = ["2026-10-01T12:00:00Z", None, "yesterday", "2026-10-01", " 2026-10-01T12:00:00Z", "2026-10-01T12:00:00Z"]
    got = parse_instants([texts, texts[::-1]])
    assert list(got[0]) == [duckdb_value(t) if t is not None else NULL for t in texts]
    assert list(got[1]) == [duckdb_value(t) if t is not None else NULL for t in texts[::-1]]
    assert np.array_equal(duckdb_instants(texts[:1]), got[0][:1])
