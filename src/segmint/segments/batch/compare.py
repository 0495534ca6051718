"""The comparison rules of ``values.py``, in SQL over typed columns.

A value reaches SQL as typed columns (``needs.py``): ``present`` and one
column per kind, NULL unless the value has that kind. :func:`compare` turns
an operator into an expression over them that is TRUE or FALSE, never NULL
(SQL's three-valued logic would otherwise make ``NOT`` wrong on a missing
value): a number never equals a text, ``ne`` and ``not_in`` need a present
value, booleans only equal booleans, ``contains`` is a substring of a text
or an element of a list.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from segmint.segments.batch.needs import ValueNeed, operand_kind
from segmint.segments.definition import Comparison

TRUE: exp.Expr = exp.true()
FALSE: exp.Expr = exp.false()


# ---- boolean algebra that never yields NULL ---------------------------------


def _is(expression: exp.Expr, value: bool) -> bool:
    return isinstance(expression, exp.Boolean) and expression.this is value


def all_of(parts: Iterable[exp.Expr]) -> exp.Expr:
    kept = [p for p in parts if not _is(p, True)]
    if any(_is(p, False) for p in kept):
        return FALSE
    return exp.and_(*kept) if kept else TRUE


def any_of(parts: Iterable[exp.Expr]) -> exp.Expr:
    kept = [p for p in parts if not _is(p, False)]
    if any(_is(p, True) for p in kept):
        return TRUE
    return exp.or_(*kept) if kept else FALSE


def negate(part: exp.Expr) -> exp.Expr:
    if _is(part, True):
        return FALSE
    if _is(part, False):
        return TRUE
    return exp.Not(this=exp.Paren(this=part))


def definitely(predicate: exp.Expr) -> exp.Expr:
    """TRUE when ``predicate`` is TRUE, FALSE when it is FALSE or NULL."""
    return exp.func("COALESCE", predicate, FALSE)


# ---- values and comparisons -------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A value as typed columns: each facet is NULL unless the value has that kind.

    ``present`` is a never-NULL boolean (None: always present); a facet that
    is None cannot hold (e.g. a count is never text).
    """

    present: exp.Expr | None = None
    num: exp.Expr | None = None
    text: exp.Expr | None = None
    flag: exp.Expr | None = None
    items: Mapping[str, exp.Expr] = field(default_factory=dict)

    @classmethod
    def columns(cls, need: ValueNeed) -> Value:
        """The facets of a prepared value (``needs.py``), by column name."""
        return cls(
            exp.column(need.column("present")),
            exp.column(need.column("num")),
            exp.column(need.column("str")),
            exp.column(need.column("bool")),
            {k: exp.column(need.column(f"items_{k}")) for k in need.items},
        )

    def facet(self, kind: str | None) -> exp.Expr | None:
        return {"num": self.num, "str": self.text, "bool": self.flag}.get(kind or "")


def literal(operand: Any) -> exp.Expr:
    kind = operand_kind(operand)
    if kind == "bool":
        return exp.Boolean(this=operand)
    if kind == "str":
        return exp.Literal.string(operand)
    if isinstance(operand, int) and abs(operand) < 2**53:
        return exp.Literal.number(operand)
    number = float(operand)
    if math.isfinite(number):
        return exp.Literal.number(repr(number))
    return exp.cast(exp.Literal.string(repr(number)), "DOUBLE")


def _equal(value: Value, operand: Any) -> exp.Expr:
    column = value.facet(operand_kind(operand))
    if column is None:
        return FALSE
    return definitely(exp.EQ(this=column, expression=literal(operand)))


def _member(value: Value, operands: Sequence[Any]) -> exp.Expr:
    tests = []
    for kind in ("num", "str", "bool"):
        same = [o for o in operands if operand_kind(o) == kind]
        column = value.facet(kind)
        if same and column is not None:
            tests.append(definitely(exp.In(this=column, expressions=[literal(o) for o in same])))
    return any_of(tests)


_ORDER = {"gt": exp.GT, "gte": exp.GTE, "lt": exp.LT, "lte": exp.LTE}


def compare(value: Value, comparison: Comparison) -> exp.Expr:
    """``values.holds`` in SQL: TRUE or FALSE, never NULL."""
    op, operand = comparison.op, comparison.value
    present = TRUE if value.present is None else value.present
    if op == "exists":
        return present if operand else negate(present)
    if op == "eq":
        return _equal(value, operand)
    if op == "ne":
        return all_of([present, negate(_equal(value, operand))])
    if op in _ORDER:
        column = value.facet(operand_kind(operand))
        if column is None or operand_kind(operand) == "bool":
            return FALSE
        return definitely(_ORDER[op](this=column, expression=literal(operand)))
    if op == "in":
        return _member(value, operand)
    if op == "not_in":
        return all_of([present, negate(_member(value, operand))])
    if op == "between":
        low, high = operand
        kind = operand_kind(low)
        column = value.facet(kind)
        if kind not in ("num", "str") or kind != operand_kind(high) or column is None:
            return FALSE
        return definitely(exp.Between(this=column, low=literal(low), high=literal(high)))
    if op == "contains":
        kind = operand_kind(operand)
        tests = []
        if kind == "str" and value.text is not None:
            tests.append(definitely(exp.Contains(this=value.text, expression=literal(operand))))
        if kind is not None and kind in value.items:
            tests.append(definitely(exp.ArrayContains(this=value.items[kind], expression=literal(operand))))
        return any_of(tests)
    raise ValueError(f"unknown operator {op!r}")


def compare_all(value: Value, comparisons: Iterable[Comparison]) -> exp.Expr:
    return all_of(compare(value, c) for c in comparisons)
