"""How a value meets an operator: the comparison rules of the segment language.

Rules (shared/spec/segments.md): any comparison on a missing value (absent
or JSON null) is false, except ``exists: false``; ``ne`` and ``not_in`` on
a missing value are false too. Numbers compare as numbers (3 == 3.0);
strings compare exactly; a number and a string are never equal (``ne`` is
true, every other comparison false). Numbers are compared as IEEE-754
doubles, as JSON numbers are by JavaScript and the SQL engines (so 2**53
and 2**53 + 1 are equal). Booleans are their own kind: equal
only to booleans, never ordered. ``contains`` is a substring of a string or
an element of a list. ``between`` is inclusive.

The SQL compiler implements the same table in SQL; tests hold them equal.
"""

from __future__ import annotations

from typing import Any

from segmint.segments.definition import Comparison


def kind(value: Any) -> str | None:
    """The comparison kind of a JSON value; None when missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    return "obj"


def _equal(value: Any, operand: Any) -> bool:
    k = kind(value)
    if k is None or k != kind(operand) or k not in ("num", "str", "bool"):
        return False
    if k == "num":  # as IEEE doubles, like JSON numbers in every engine
        return float(value) == float(operand)
    return bool(value == operand)


def _ordered(value: Any, operand: Any) -> int | None:
    """-1, 0 or 1 when value and operand are ordered (two numbers or two strings)."""
    k = kind(value)
    if k not in ("num", "str") or k != kind(operand):
        return None
    if k == "num":
        value, operand = float(value), float(operand)
    return (value > operand) - (value < operand)


def holds(value: Any, comparison: Comparison) -> bool:
    """Whether ``value`` (None when missing) satisfies ``comparison``."""
    op, operand = comparison.op, comparison.value
    if op == "exists":
        return (value is not None) == operand
    if value is None:
        return False
    if op == "eq":
        return _equal(value, operand)
    if op == "ne":
        return not _equal(value, operand)
    if op in ("gt", "gte", "lt", "lte"):
        order = _ordered(value, operand)
        if order is None:
            return False
        return {"gt": order > 0, "gte": order >= 0, "lt": order < 0, "lte": order <= 0}[op]
    if op == "in":
        return any(_equal(value, o) for o in operand)
    if op == "not_in":
        return not any(_equal(value, o) for o in operand)
    if op == "between":
        low, high = operand
        lo, hi = _ordered(value, low), _ordered(value, high)
        return lo is not None and hi is not None and lo >= 0 and hi <= 0
    if op == "contains":
        if isinstance(value, str):
            return isinstance(operand, str) and operand in value
        if isinstance(value, list):
            return any(_equal(item, operand) for item in value)
        return False
    raise ValueError(f"unknown operator {op!r}")


def all_hold(value: Any, comparisons: tuple[Comparison, ...]) -> bool:
    return all(holds(value, c) for c in comparisons)


def lookup(properties: Any, path: tuple[str, ...]) -> Any:
    """A nested property by dot path; None when any step is missing."""
    value = properties
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
