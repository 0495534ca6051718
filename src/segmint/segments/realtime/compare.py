"""Comparisons compiled to small predicates, for the per-event path.

``values.holds`` interprets an operator on every call; here each comparison
becomes a small :class:`Test` specialised on its operator and operand kind,
with the JSON types (str, int, float, bool, None, list, dict) decided by
exact type checks, and anything else handed to ``values.holds``.

Classes, not closures: the module is compiled (``compare.pxd``), and the
compiled leaves call ``Test.holds`` as a C method, with no Python frame
per comparison (they were 5 % of the real-time benchmark's instructions as
closures). Closures would also not survive compilation: Cython's share one
scope object per function, so sibling closures would form reference cycles.

A ``where`` (filters on an event's properties) is one more such predicate,
over the properties (:func:`where_test`).

The rules are those of ``values.py`` with one addition the agreement tests
settle: numbers compare as doubles, as in every JSON engine (2**53 + 1
equals 2**53). A property test holds these predicates equal to
``values.holds`` applied to the values and operands as doubles.
"""

from __future__ import annotations

from typing import Any

from segmint.segments.definition import Comparison, PropertyFilter
from segmint.segments.values import holds, kind, lookup

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


class Test:
    """A predicate over one value: ``test(value)``, or ``test.holds(value)`` (a C call when compiled)."""

    __slots__ = ()

    def __call__(self, value: Any) -> bool:
        return self.holds(value)

    def holds(self, value: Any) -> bool:
        raise NotImplementedError


class _Constant(Test):
    """No comparisons (always true), or ``eq`` null or a list (never true)."""

    __slots__ = ("answer",)

    def __init__(self, answer: bool) -> None:
        self.answer = answer

    def holds(self, value: Any) -> bool:
        return self.answer


class _Exists(Test):
    """``exists: true`` (present) or ``exists: false`` (missing); also ``ne`` null, which is "present"."""

    __slots__ = ("wanted",)

    def __init__(self, wanted: bool) -> None:
        self.wanted = wanted

    def holds(self, value: Any) -> bool:
        return (value is not None) == self.wanted


class _Generic(Test):
    """``values.holds`` on the value and operand as doubles: every case the others do not decide."""

    __slots__ = ("as_doubles",)

    def __init__(self, comparison: Comparison) -> None:
        self.as_doubles = Comparison(comparison.op, double(comparison.value))

    def holds(self, value: Any) -> bool:
        return holds(double(value), self.as_doubles)


# What an equality's operand is: the JSON type a value must have to be compared with it.
_NUM, _STR, _BOOL = 0, 1, 2


class _Equal(Test):
    """``eq``/``ne`` a number, string or boolean."""

    __slots__ = ("fallback", "negated", "operand", "want")

    def __init__(self, comparison: Comparison, want: int) -> None:
        self.operand, self.want = double(comparison.value), want
        self.negated = comparison.op == "ne"
        self.fallback = _Generic(comparison)

    def holds(self, value: Any) -> bool:
        if value is None:
            return False  # eq and ne on a missing value
        t = value.__class__
        want = self.want
        if want == _NUM and t is float:
            found = value == self.operand
        elif want == _NUM and t is int:
            found = double(value) == self.operand
        elif want == _STR and t is str:
            found = value == self.operand
        elif want == _BOOL and t is bool:
            found = value is self.operand
        elif t in _JSON:
            found = False  # another JSON kind: never equal
        else:
            return self.fallback.holds(value)
        return found != self.negated


class _Range(Test):
    """``gt``/``gte``/``lt``/``lte``/``between``: a number (ints as doubles) or a string within bounds.

    A bound of None is no bound; an open one excludes its value.
    """

    __slots__ = ("fallback", "high", "high_open", "low", "low_open", "numeric")

    def __init__(self, comparison: Comparison, low: Any, high: Any, *, open_low: bool = False,
                 open_high: bool = False) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, open_low, open_high
        self.numeric = kind(low if low is not None else high) == "num"
        self.fallback = _Generic(comparison)

    def holds(self, value: Any) -> bool:
        t = value.__class__
        if self.numeric and t is float:
            v = value
        elif self.numeric and t is int:
            v = double(value)
        elif not self.numeric and t is str:
            v = value
        elif t in _JSON:
            return False
        else:
            return self.fallback.holds(value)
        low, high = self.low, self.high
        if low is not None and (v <= low if self.low_open else v < low):
            return False
        return high is None or (v < high if self.high_open else v <= high)


class _Membership(Test):
    """``in``/``not_in`` a list of numbers, strings and booleans."""

    __slots__ = ("bools", "fallback", "negated", "nums", "strs")

    def __init__(self, comparison: Comparison) -> None:
        by_kind: dict[str, set[Any]] = {"num": set(), "str": set(), "bool": set()}
        for operand in double(comparison.value):
            k = kind(operand)
            if k in by_kind:
                by_kind[k].add(operand)
        self.nums, self.strs, self.bools = by_kind["num"], by_kind["str"], by_kind["bool"]
        self.negated = comparison.op == "not_in"
        self.fallback = _Generic(comparison)

    def holds(self, value: Any) -> bool:
        t = value.__class__
        if t is float:
            found = value in self.nums
        elif t is int:
            found = double(value) in self.nums
        elif t is str:
            found = value in self.strs
        elif t is bool:
            found = value in self.bools
        elif t in _JSON:
            if value is None:
                return False
            found = False
        else:
            return self.fallback.holds(value)
        return found != self.negated


class _All(Test):
    """Several comparisons on one value, all of which must hold."""

    __slots__ = ("tests",)

    def __init__(self, tests: list[Test]) -> None:
        self.tests = tests

    def holds(self, value: Any) -> bool:
        for test in self.tests:
            if not test.holds(value):
                return False
        return True


def _one(comparison: Comparison) -> Test:
    op = comparison.op
    if op == "exists":
        return _Exists(bool(comparison.value))
    if op in ("eq", "ne"):
        want = kind(double(comparison.value))
        if want == "num":
            return _Equal(comparison, _NUM)
        if want == "str":
            return _Equal(comparison, _STR)
        if want == "bool":
            return _Equal(comparison, _BOOL)
        return _Constant(False) if op == "eq" else _Exists(True)  # eq null (or a list) is never true; ne is "present"
    if op in ("gt", "gte"):
        return _Range(comparison, double(comparison.value), None, open_low=op == "gt")
    if op in ("lt", "lte"):
        return _Range(comparison, None, double(comparison.value), open_high=op == "lt")
    if op == "between":
        low, high = double(comparison.value)
        if kind(low) == kind(high) and kind(low) in ("num", "str"):
            return _Range(comparison, low, high)
    if op in ("in", "not_in"):
        return _Membership(comparison)
    return _Generic(comparison)


def compile_test(comparisons: tuple[Comparison, ...]) -> Test:
    """One predicate for a tuple of comparisons that must all hold."""
    tests = [_one(comparison) for comparison in comparisons]
    if not tests:
        return _Constant(True)
    if len(tests) == 1:
        return tests[0]
    return _All(tests)


# ---- where: comparisons on an event's properties ---------------------------------


class _WhereKey(Test):
    """A ``where`` of one filter on a top-level property: the usual one."""

    __slots__ = ("check", "key")

    def __init__(self, key: str, check: Test) -> None:
        self.key, self.check = key, check

    def holds(self, properties: Any) -> bool:
        return self.check.holds(properties.get(self.key) if isinstance(properties, dict) else None)


class _Where(Test):
    """A ``where``: every filter holds on the property at its path."""

    __slots__ = ("filters",)

    def __init__(self, filters: tuple[tuple[tuple[str, ...], Test], ...]) -> None:
        self.filters = filters

    def holds(self, properties: Any) -> bool:
        for path, check in self.filters:
            if not check.holds(lookup(properties, path)):
                return False
        return True


def where_test(where: tuple[PropertyFilter, ...]) -> Test | None:
    """One predicate over an event's properties for a ``where`` (None: no filter)."""
    if not where:
        return None
    filters = tuple((f.path, compile_test(f.comparisons)) for f in where)
    if len(filters) == 1 and len(filters[0][0]) == 1:
        (key,), check = filters[0]
        return _WhereKey(key, check)
    return _Where(filters)
