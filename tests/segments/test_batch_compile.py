"""The compiler's pieces: typed values, comparisons, JSON paths, the query's shape."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from segmint.segments.batch.compare import Value, compare
from segmint.segments.batch.compile import compile_segments
from segmint.segments.batch.dialects import DuckDB, Spark, UnsupportedPathError
from segmint.segments.batch.inputs import facets
from segmint.segments.batch.needs import ValueNeed, needs_of
from segmint.segments.definition import OPERATORS, Comparison
from segmint.segments.parse import load_segments
from segmint.segments.values import holds

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
SCALARS = ["a", "abc", "", "3", "2026-01-05T00:00:00Z", True, False, 0, 1, 3, 3.0, -2.5, 1e20]

# ---- comparisons in SQL are values.holds, never NULL ---------------------------------

json_values = st.one_of(
    st.none(), st.sampled_from(SCALARS), st.integers(-3, 3), st.floats(-3, 3, allow_nan=False),
    st.lists(st.one_of(st.sampled_from(SCALARS), st.none()), max_size=3),
    st.fixed_dictionaries({"k": st.sampled_from(SCALARS)}),
)  # fmt: skip


def _operands(op: str) -> st.SearchStrategy[Any]:
    scalar = st.one_of(st.sampled_from(SCALARS), st.integers(-3, 3), st.floats(-3, 3, allow_nan=False))
    ordered = scalar.filter(lambda v: not isinstance(v, bool))
    if op in ("in", "not_in"):
        return st.lists(st.one_of(scalar, st.none()), max_size=3).map(tuple)
    if op == "between":
        return st.tuples(ordered, ordered)
    if op == "exists":
        return st.booleans()
    if op in ("gt", "gte", "lt", "lte"):
        return ordered
    return st.one_of(scalar, st.none())


comparisons = st.sampled_from(OPERATORS).flatmap(lambda op: _operands(op).map(lambda v: Comparison(op, v)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


cases = st.lists(st.tuples(json_values, comparisons, st.booleans()), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None)
@given(cases=cases)
def test_a_comparison_in_sql_is_values_holds(
    con: duckdb.DuckDBPyConnection, cases: list[tuple[Any, Comparison, bool]]
) -> None:
    """JSON -> typed facets (DuckDB's preparation) -> compare(): TRUE/FALSE exactly as values.holds.

    Each case is a value (absent when its flag is set) and a comparison; one
    query checks them all, each value under its own key of one document.
    """
    document = orjson.dumps({f"v{i}": value for i, (value, _, absent) in enumerate(cases) if not absent}).decode()
    doc = exp.cast(exp.Literal.string(document), "JSON")
    needs = [ValueNeed(f"p{i}", items={"num", "str", "bool"}) for i in range(len(cases))]
    paths = [(f"v{i}",) for i in range(len(cases))]
    parsed = DuckDB().document(doc, paths)
    raw = exp.select(*[exp.alias_(DuckDB().get(parsed, paths, i), f"x{i}") for i in range(len(cases))])
    typed = exp.select(
        *[facet for i, need in enumerate(needs) for facet in facets(DuckDB(), need, exp.column(f"x{i}"))]
    )
    test = exp.select(*[compare(Value.columns(need), c) for need, (_, c, _) in zip(needs, cases, strict=True)]).from_(
        typed.from_(raw.subquery("r")).subquery("t")
    )
    got = con.execute(DuckDB().sql(test)).fetchall()[0]
    want = tuple(holds(None if absent else value, c) for value, c, absent in cases)
    assert got == want


# ---- JSON paths -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "duckdb_path", "spark_path"),
    [
        (("a",), '$."a"', '$["a"]'),
        (("a", "b"), '$."a"."b"', '$["a"]["b"]'),
        (("a.b",), '$."a.b"', '$["a.b"]'),
        (('say "hi"',), '$."say \\"hi\\""', "$['say \"hi\"']"),
        (("", "x"), "//x", '$[""]["x"]'),
    ],
)
def test_json_paths_name_keys_never_array_positions(parts: tuple[str, ...], duckdb_path: str, spark_path: str) -> None:
    assert DuckDB().path(parts) == duckdb_path
    assert Spark().path(parts) == spark_path


def test_paths_an_engine_cannot_express_are_reported() -> None:
    with pytest.raises(UnsupportedPathError):
        DuckDB().path(("", "0"))  # a JSON pointer would index an array
    with pytest.raises(UnsupportedPathError):
        Spark().path(("back\\slash",))


def test_duckdb_reads_keys_with_dots_quotes_and_empty_names() -> None:
    con = duckdb.connect()
    document = orjson.dumps({"a.b": 1, 'q"': 2, "": {"x": 3}, "l": [5, 6]}).decode()
    for parts, want in [(("a.b",), "1"), (('q"',), "2"), (("", "x"), "3"), (("l", "0"), None)]:
        doc = DuckDB().document(exp.cast(exp.Literal.string(document), "JSON"), [parts])
        query = exp.select(DuckDB().get(doc, [parts], 0))
        assert con.execute(DuckDB().sql(query)).fetchall()[0][0] == want


# ---- what the definitions need ------------------------------------------------------------


def test_needs_collect_paths_with_the_events_they_are_read_on() -> None:
    loaded = load_segments({
        "a": {"performed": "Order Completed", "where": {"shipping.city": "Oslo"},
              "sum": {"property": "total", "gte": 1}},
        "b": {"performed": "Product Added",
              "not_followed_by": {"performed": "Order Completed", "within": "1h", "same": ["cart_id"]}},
        "c": {"trait": "tags", "contains": "vip"},
        "d": {"performed": "Product Viewed", "where": {"tags": {"contains": 3}}},
    })  # fmt: skip
    needs = needs_of(loaded.definitions.values())
    assert {p: n.scope for p, n in needs.properties.items()} == {
        ("shipping", "city"): {"Order Completed"},
        ("total",): {"Order Completed"},
        ("cart_id",): {"Product Added", "Order Completed"},
        ("tags",): {"Product Viewed"},
    }
    assert needs.properties[("tags",)].items == {"num"}
    assert needs.traits["tags"].items == {"str"}
    assert needs.events == {"Order Completed", "Product Added", "Product Viewed"}


# ---- the query's shape ------------------------------------------------------------------

MANY = {
    **{f"count_{i}": {"performed": f"E{i % 3}", "within": f"{i + 1}d", "count": {"gte": i}} for i in range(12)},
    "avg": {"performed": "E0", "avg": {"property": "x", "gt": 1}},
    "fb": {"performed": "E0", "followed_by": {"performed": "E1", "within": "1h"}},
    "nfb": {"performed": "E1", "not_followed_by": {"performed": "E2", "within": "1h"}},
    "same": {"performed": "E0", "followed_by": {"performed": "E1", "same": ["k"]}},
    "trait": {"trait": "age", "gte": 3},
    "ref": {"not": {"in_segment": "trait"}},
    "ref2": {"all": [{"in_segment": "ref"}, {"in_segment": "fb"}]},
}


def _reads_of_events(sql: str, dialect: str) -> int:
    tree = sqlglot.parse_one(sql, read=dialect)
    return sum(1 for t in tree.find_all(exp.Table) if t.name == "seg_events")


def test_one_aggregation_pass_and_one_window_pass_per_same_list() -> None:
    compiled = compile_segments(list(load_segments(MANY).definitions.values()), NOW)
    # 12 counts and an average: one pass; fb and nfb share a window pass; `same` needs its own.
    assert _reads_of_events(compiled.sql("duckdb"), "duckdb") == 3
    assert _reads_of_events(compiled.sql("spark"), "spark") == 3


def test_the_same_tree_prints_for_every_engine() -> None:
    compiled = compile_segments(list(load_segments(MANY).definitions.values()), NOW)
    for dialect in ("duckdb", "spark"):
        sql = compiled.sql(dialect)
        assert sqlglot.parse_one(sql, read=dialect).sql(dialect=dialect) == sql
    assert "FILTER(WHERE" in compiled.sql("spark")
    assert set(compiled.columns) == set(MANY)
