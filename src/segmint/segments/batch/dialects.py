"""What differs between the engines, as data on one class per engine.

The compiled segment logic is the same sqlglot tree for every engine; only
the preparation of the inputs (reading JSON, turning a timestamp into
microseconds) needs engine functions, and only a value's kind (number, text,
boolean, list) decides which typed column it lands in. Each :class:`Dialect` answers those
with lookup tables (function names, the engine's names for JSON types) and
a few one-line builders, never with ``if engine == ...`` branches.

- DuckDB reads every referenced path of a stored ``JSON`` column with one
  ``json_extract`` (one parse) and names a value's type with ``json_type``;
- Spark 4 parses the JSON text once into a ``VARIANT`` (``try_parse_json``)
  and names a value's type with ``schema_of_variant``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from sqlglot import exp

from segmint.errors import DefinitionError


class UnsupportedPathError(DefinitionError):
    """A property or trait name that an engine's JSON paths cannot express."""


def call(name: str, *args: exp.Expr | str) -> exp.Expr:
    """An engine function by name, passed through to the SQL unchanged."""
    return exp.Anonymous(this=name, expressions=[exp.Literal.string(a) if isinstance(a, str) else a for a in args])


def lam(var: str, body: exp.Expr) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(var)])


def _filtered(aggregate: exp.Expr, where: exp.Where | None) -> exp.Expr:
    return aggregate if where is None else exp.Filter(this=aggregate, expression=where)


class Dialect:
    """The engine-specific pieces of the input preparation."""

    name: ClassVar[str]  # sqlglot's name for the dialect
    timestamp_type: ClassVar[str]
    micros_function: ClassVar[str]
    # The engine's type names for a JSON value, per comparison kind. Any
    # other type (JSON null) is a missing value.
    type_names: ClassVar[dict[str, tuple[str, ...]]]
    list_filter: ClassVar[str]
    list_transform: ClassVar[str]
    # How to ask that a CTE read twice be inlined rather than written out
    # (``materialized=False`` prints NOT MATERIALIZED); None: not supported.
    cte_materialized: ClassVar[bool | None] = None

    def sql(self, expression: exp.Expr) -> str:
        return expression.sql(dialect=self.name)

    def micros(self, timestamp: exp.Expr) -> exp.Expr:
        """Microseconds since the epoch, as BIGINT."""
        return call(self.micros_function, timestamp)

    def instant(self, iso: str) -> exp.Expr:
        return exp.cast(exp.Literal.string(iso), self.timestamp_type)

    def float_sum(self, number: exp.Expr, where: exp.Where | None) -> exp.Expr:
        """A sum of DOUBLEs (``compile.FloatSum``), with its FILTER if any."""
        return _filtered(exp.Sum(this=number), where)

    def is_kind(self, value: exp.Expr, kinds: tuple[str, ...]) -> exp.Expr:
        """``value`` is one of ``kinds`` ('num', 'str', 'bool', 'list', 'obj'); NULL when absent."""
        names = [n for kind in kinds for n in self.type_names[kind]]
        type_name = self.type_name(value)
        # Equalities, not IN: DuckDB plans an IN list as a join, and computes
        # the repeated type_name once.
        return exp.or_(*[exp.EQ(this=type_name.copy(), expression=exp.Literal.string(n)) for n in names])

    def items(self, value: exp.Expr, kind: str) -> exp.Expr:
        """The elements of the list ``value`` whose kind is ``kind``, typed."""
        typed = {"num": self.to_double, "str": self.to_string, "bool": self.to_boolean}[kind]
        element = exp.column("e")
        keep = call(self.list_filter, self.elements(value), lam("e", self.is_kind(element, (kind,))))
        return call(self.list_transform, keep, lam("e", typed(element)))

    # ---- per engine -------------------------------------------------------

    def path(self, parts: tuple[str, ...]) -> str:
        raise NotImplementedError

    def document(self, text: exp.Expr, paths: Sequence[tuple[str, ...]]) -> exp.Expr:
        """A stored JSON column, read once per row for the values at ``paths``."""
        raise NotImplementedError

    def get(self, document: exp.Expr, paths: Sequence[tuple[str, ...]], index: int) -> exp.Expr:
        """The JSON value at ``paths[index]`` of a :meth:`document` (SQL NULL when absent; JSON null kept)."""
        raise NotImplementedError

    def type_name(self, value: exp.Expr) -> exp.Expr:
        raise NotImplementedError

    def to_double(self, value: exp.Expr) -> exp.Expr:
        raise NotImplementedError

    def to_string(self, value: exp.Expr) -> exp.Expr:
        raise NotImplementedError

    def to_boolean(self, value: exp.Expr) -> exp.Expr:
        raise NotImplementedError

    def elements(self, value: exp.Expr) -> exp.Expr:
        raise NotImplementedError


class DuckDB(Dialect):
    name = "duckdb"
    timestamp_type = "TIMESTAMPTZ"
    micros_function = "epoch_us"
    type_names = {
        "num": ("BIGINT", "UBIGINT", "DOUBLE", "HUGEINT"),
        "str": ("VARCHAR",),
        "bool": ("BOOLEAN",),
        "list": ("ARRAY",),
        "obj": ("OBJECT",),
    }
    list_filter = "list_filter"
    list_transform = "list_transform"
    cte_materialized = False

    def path(self, parts: tuple[str, ...]) -> str:
        if all(parts):
            return "$" + "".join('."' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts)
        # '$.""' is not a valid path; a JSON pointer is, but it would index
        # arrays with a numeric part, which a dot path never does.
        if any(p.isdigit() for p in parts):
            raise UnsupportedPathError(f"property path {'.'.join(parts)!r}: an empty name next to a numeric one")
        return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)

    def float_sum(self, number: exp.Expr, where: exp.Where | None) -> exp.Expr:
        # fsum compensates rounding (0.1 + 0.2 + 0.3 is 0.6, in any order),
        # but turns an overflow into NaN where a plain sum gives infinity.
        compensated = _filtered(call("fsum", number), where)
        plain = _filtered(exp.Sum(this=number.copy()), where.copy() if where else None)
        return exp.Case().when(call("isnan", compensated.copy()), plain).else_(compensated)

    def document(self, text: exp.Expr, paths: Sequence[tuple[str, ...]]) -> exp.Expr:
        # One parse per row: json_extract with a list of paths gives a list of values.
        return call("json_extract", text, exp.Array(expressions=[exp.Literal.string(self.path(p)) for p in paths]))

    def get(self, document: exp.Expr, paths: Sequence[tuple[str, ...]], index: int) -> exp.Expr:
        # DuckDB lists count from 1; offset=1 tells sqlglot the index is already so.
        return exp.Bracket(this=document, expressions=[exp.Literal.number(index + 1)], offset=1)

    def type_name(self, value: exp.Expr) -> exp.Expr:
        return call("json_type", value)

    def to_double(self, value: exp.Expr) -> exp.Expr:
        return exp.cast(value, "DOUBLE")

    def to_string(self, value: exp.Expr) -> exp.Expr:
        return call("json_extract_string", value, "$")

    def to_boolean(self, value: exp.Expr) -> exp.Expr:
        return exp.cast(value, "BOOLEAN")

    def elements(self, value: exp.Expr) -> exp.Expr:
        return call("json_extract", value, "$[*]")


_SPARK_PLAIN = re.compile(r"^[^\\]*$")


class Spark(Dialect):
    name = "spark"
    timestamp_type = "TIMESTAMP"
    micros_function = "unix_micros"
    type_names = {
        "num": ("BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "DECIMAL"),
        "str": ("STRING",),
        "bool": ("BOOLEAN",),
        "list": ("ARRAY",),
        "obj": ("OBJECT",),
    }
    list_filter = "filter"
    list_transform = "transform"

    def document(self, text: exp.Expr, paths: Sequence[tuple[str, ...]]) -> exp.Expr:
        return call("try_parse_json", exp.cast(text, "STRING"))

    def path(self, parts: tuple[str, ...]) -> str:
        out = "$"
        for part in parts:
            if not _SPARK_PLAIN.match(part) or ('"' in part and "'" in part):
                raise UnsupportedPathError(
                    f"property path {'.'.join(parts)!r}: Spark's variant paths cannot name {part!r}"
                )
            out += f"['{part}']" if '"' in part else f'["{part}"]'
        return out

    def get(self, document: exp.Expr, paths: Sequence[tuple[str, ...]], index: int) -> exp.Expr:
        return call("variant_get", document, self.path(paths[index]))

    def type_name(self, value: exp.Expr) -> exp.Expr:
        # The type's leading word: 'DECIMAL(10,2)' is a DECIMAL, 'ARRAY<...>' an ARRAY.
        return call("regexp_extract", call("schema_of_variant", value), "^[A-Z]+", exp.Literal.number(0))

    def to_double(self, value: exp.Expr) -> exp.Expr:
        return call("try_variant_get", value, "$", "double")

    def to_string(self, value: exp.Expr) -> exp.Expr:
        return call("try_variant_get", value, "$", "string")

    def to_boolean(self, value: exp.Expr) -> exp.Expr:
        return call("try_variant_get", value, "$", "boolean")

    def elements(self, value: exp.Expr) -> exp.Expr:
        return call("try_variant_get", value, "$", "array<variant>")


DIALECTS: dict[str, Dialect] = {"duckdb": DuckDB(), "spark": Spark()}
