"""What differs between the engines, as data on one class per engine.

The compiled segment logic is the same sqlglot tree for every engine; only
the preparation of the inputs (reading JSON, turning a timestamp into
microseconds) needs engine functions. Each :class:`Dialect` answers those
with lookup tables (function names, the engine's names for JSON types) and
a few one-line builders, never with ``if engine == ...`` branches.

- DuckDB reads the stored ``JSON`` columns with ``json_extract`` and names a
  value's type with ``json_type``;
- Spark 4 parses the JSON text once into a ``VARIANT`` (``try_parse_json``)
  and names a value's type with ``schema_of_variant``.
"""

from __future__ import annotations

import re
from typing import ClassVar

from sqlglot import exp

from segmint.errors import DefinitionError


class UnsupportedPathError(DefinitionError):
    """A property or trait name that an engine's JSON paths cannot express."""


def call(name: str, *args: exp.Expression | str) -> exp.Expression:
    """An engine function by name, passed through to the SQL unchanged."""
    return exp.Anonymous(this=name, expressions=[exp.Literal.string(a) if isinstance(a, str) else a for a in args])


def lam(var: str, body: exp.Expression) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(var)])


class Dialect:
    """The engine-specific pieces of the input preparation."""

    name: ClassVar[str]           # sqlglot's name for the dialect
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

    def sql(self, expression: exp.Expression) -> str:
        return expression.sql(dialect=self.name)

    def micros(self, timestamp: exp.Expression) -> exp.Expression:
        """Microseconds since the epoch, as BIGINT."""
        return call(self.micros_function, timestamp)

    def instant(self, iso: str) -> exp.Expression:
        return exp.cast(exp.Literal.string(iso), self.timestamp_type)

    def document(self, text: exp.Expression) -> exp.Expression:
        """A stored JSON column, ready for :meth:`get` (parsed once per row)."""
        return text

    def kind(self, value: exp.Expression) -> exp.Expression:
        """'num', 'str', 'bool', 'list', 'obj', or NULL for a missing value."""
        cases = exp.Case(this=self.type_name(value))
        for kind, names in self.type_names.items():
            for type_name in names:
                cases = cases.when(exp.Literal.string(type_name), exp.Literal.string(kind))
        return cases

    def items(self, value: exp.Expression, kind: str) -> exp.Expression:
        """The elements of the list ``value`` whose kind is ``kind``, typed."""
        typed = {"num": self.to_double, "str": self.to_string, "bool": self.to_boolean}[kind]
        element = exp.column("e")
        keep = call(self.list_filter, self.elements(value), lam("e", exp.EQ(this=self.kind(element), expression=exp.Literal.string(kind))))
        return call(self.list_transform, keep, lam("e", typed(element)))

    # ---- per engine -------------------------------------------------------

    def path(self, parts: tuple[str, ...]) -> str:
        raise NotImplementedError

    def get(self, document: exp.Expression, parts: tuple[str, ...]) -> exp.Expression:
        """The JSON value at ``parts`` (SQL NULL when absent; JSON null kept)."""
        raise NotImplementedError

    def type_name(self, value: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def to_double(self, value: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def to_string(self, value: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def to_boolean(self, value: exp.Expression) -> exp.Expression:
        raise NotImplementedError

    def elements(self, value: exp.Expression) -> exp.Expression:
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

    def get(self, document: exp.Expression, parts: tuple[str, ...]) -> exp.Expression:
        return call("json_extract", document, self.path(parts))

    def type_name(self, value: exp.Expression) -> exp.Expression:
        return call("json_type", value)

    def to_double(self, value: exp.Expression) -> exp.Expression:
        return exp.cast(value, "DOUBLE")

    def to_string(self, value: exp.Expression) -> exp.Expression:
        return call("json_extract_string", value, "$")

    def to_boolean(self, value: exp.Expression) -> exp.Expression:
        return exp.cast(value, "BOOLEAN")

    def elements(self, value: exp.Expression) -> exp.Expression:
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

    def document(self, text: exp.Expression) -> exp.Expression:
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

    def get(self, document: exp.Expression, parts: tuple[str, ...]) -> exp.Expression:
        return call("variant_get", document, self.path(parts))

    def type_name(self, value: exp.Expression) -> exp.Expression:
        # The type's leading word: 'DECIMAL(10,2)' is a DECIMAL, 'ARRAY<...>' an ARRAY.
        return call("regexp_extract", call("schema_of_variant", value), "^[A-Z]+", exp.Literal.number(0))

    def to_double(self, value: exp.Expression) -> exp.Expression:
        return call("try_variant_get", value, "$", "double")

    def to_string(self, value: exp.Expression) -> exp.Expression:
        return call("try_variant_get", value, "$", "string")

    def to_boolean(self, value: exp.Expression) -> exp.Expression:
        return call("try_variant_get", value, "$", "boolean")

    def elements(self, value: exp.Expression) -> exp.Expression:
        return call("try_variant_get", value, "$", "array<variant>")


DIALECTS: dict[str, Dialect] = {"duckdb": DuckDB(), "spark": Spark()}
