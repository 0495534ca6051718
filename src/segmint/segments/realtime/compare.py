"""Comparisons compiled to small predicates, for the per-event path.

``values.holds`` interprets an operator on every call; here each comparison
becomes a closure specialised on its operator and operand kind, with the
JSON types (str, int, float, bool, None, list, dict) decided by exact type
checks, and anything else handed to ``values.holds``.

The rules are those of ``values.py`` with one addition the agreement tests
settle: numbers compare as doubles, as in every JSON engine (2**53 + 1
equals 2**53). A property test holds these predicates equal to
``values.holds`` applied to the values and operands as doubles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from segmint.segments.definition import Comparison
from segmint.segments.values import holds, kind

Test = Callable[[Any], bool]
_JSON = frozenset({str, int, float, bool, type(None), list, dict})


def double(value: Any) -> Any:
    """A JSON value with its numbers as doubles (lists too); anything else unchanged."""
    kind = value.__class__
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            return float("inf") if value > 0 else float("-inf")
    if kind is list:
        return [double(v) for v in value]
    if kind is tuple:
        return tuple(double(v) for v in value)
    return value


def _generic(comparison: Comparison) -> Test:
    as_doubles = Comparison(comparison.op, double(comparison.value))
    return lambda value: holds(double(value), as_doubles)


def _equality(comparison: Comparison) -> Test:
    op, operand = comparison.op, double(comparison.value)
    want = kind(operand)
    if want not in ("num", "str", "bool"):  # eq null (or a list) is never true; ne is "present"
        return (lambda v: False) if op == "eq" else (lambda v: v is not None)
    if want == "num":
        def equal(v: Any) -> bool | None:
            t = v.__class__
            if t is float:
                return v == operand
            if t is int:
                return double(v) == operand
            return False if t in _JSON else None
    elif want == "str":
        def equal(v: Any) -> bool | None:
            t = v.__class__
            if t is str:
                return v == operand
            return False if t in _JSON else None
    else:
        def equal(v: Any) -> bool | None:
            t = v.__class__
            if t is bool:
                return v is operand
            return False if t in _JSON else None
    fallback = _generic(comparison)
    if op == "eq":
        def test(v: Any) -> bool:
            found = equal(v)
            return fallback(v) if found is None else found
    else:
        def test(v: Any) -> bool:
            if v is None:
                return False
            found = equal(v)
            return fallback(v) if found is None else not found
    return test


def _order(comparison: Comparison) -> Test:
    op, operand = comparison.op, double(comparison.value)
    numeric = kind(operand) == "num"
    accepts = (int, float) if numeric else (str,)
    compare: Callable[[Any], bool] = {
        "gt": lambda v: v > operand, "gte": lambda v: v >= operand,
        "lt": lambda v: v < operand, "lte": lambda v: v <= operand,
    }[op]
    fallback = _generic(comparison)

    def test(v: Any) -> bool:
        t = v.__class__
        if t in accepts:
            return compare(double(v) if t is int else v)
        return False if t in _JSON else fallback(v)

    return test


def _between(comparison: Comparison) -> Test:
    low, high = double(comparison.value)
    if kind(low) != kind(high) or kind(low) not in ("num", "str"):
        return _generic(comparison)
    accepts = (int, float) if kind(low) == "num" else (str,)
    fallback = _generic(comparison)

    def test(v: Any) -> bool:
        t = v.__class__
        if t in accepts:
            return low <= (double(v) if t is int else v) <= high
        return False if t in _JSON else fallback(v)

    return test


def _membership(comparison: Comparison) -> Test:
    by_kind: dict[str, set[Any]] = {"num": set(), "str": set(), "bool": set()}
    for operand in double(comparison.value):
        k = kind(operand)
        if k in by_kind:
            by_kind[k].add(operand)
    nums, strs, bools = by_kind["num"], by_kind["str"], by_kind["bool"]
    negated = comparison.op == "not_in"
    fallback = _generic(comparison)

    def test(v: Any) -> bool:
        t = v.__class__
        if t is float:
            found = v in nums
        elif t is int:
            found = double(v) in nums
        elif t is str:
            found = v in strs
        elif t is bool:
            found = v in bools
        elif t in _JSON:
            if v is None:
                return False
            found = False
        else:
            return fallback(v)
        return found != negated

    return test


def compile_test(comparisons: tuple[Comparison, ...]) -> Test:
    """One predicate for a tuple of comparisons that must all hold."""
    tests = []
    for comparison in comparisons:
        op = comparison.op
        if op == "exists":
            tests.append((lambda v: v is not None) if comparison.value else (lambda v: v is None))
        elif op in ("eq", "ne"):
            tests.append(_equality(comparison))
        elif op in ("gt", "gte", "lt", "lte"):
            tests.append(_order(comparison))
        elif op == "between":
            tests.append(_between(comparison))
        elif op in ("in", "not_in"):
            tests.append(_membership(comparison))
        else:
            tests.append(_generic(comparison))
    if not tests:
        return lambda v: True
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda v: first(v) and second(v)
    return lambda v: all(test(v) for test in tests)
