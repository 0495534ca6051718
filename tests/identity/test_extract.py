"""The Python twin of the identifier rules normalises as the SQL it mirrors."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.identity.extract import simple_lower


@pytest.fixture(scope="module")
def duck() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(alphabet=st.characters(max_codepoint=127)), st.text()))
def test_simple_lower_is_duckdbs_lower(duck: duckdb.DuckDBPyConnection, text: str) -> None:
    # ASCII takes str.lower() in one call, the rest one character at a time: both must match DuckDB.
    (expected,) = duck.execute("SELECT lower(?)", [text]).fetchall()[0]
    assert simple_lower(text) == expected


def test_simple_lower_maps_each_character_alone() -> None:
    # Python's full case mapping would give two characters for 'İ'; DuckDB (and we) give one.
    assert simple_lower("İSTANBUL") == duckdb.sql("SELECT lower('İSTANBUL')").fetchall()[0][0]
    assert len(simple_lower("İ")) == 1
