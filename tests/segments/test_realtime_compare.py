"""The real-time evaluator's shortcuts give exactly the answers of the plain rules.

- compiled comparisons (``realtime/compare.py``) against ``values.holds``
  over doubles (numbers compare as doubles: 2**53 + 1 equals 2**53);
- count tables (``CountTest``: answer and the largest smaller count that
  disagrees) against ``values.all_hold`` on every count;
- exact sums against ``fractions.Fraction``;
- searches of a window's instants (``after``, ``later_than``: the array's
  buffer, where compiled) against ``bisect`` and the last element;
- stamps (made from their bytes, where compiled) against the arithmetic.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.segments.definition import OPERATORS, Comparison
from segmint.segments.realtime.compare import compile_test, double
from segmint.segments.realtime.leaves import CountTest, _largest
from segmint.segments.realtime.state import (
    SEQ_BITS,
    after,
    exact,
    later_than,
    number,
    same_key,
    stamp,
    to_float,
    unstamp,
)
from segmint.segments.values import all_hold, holds

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from([0.0, 2.5, 3.0, -1.5, 1e300]),
    st.sampled_from([2**53, 2**53 + 1, float(2**53), -(2**60) - 1]),
    st.sampled_from(["", "a", "ab", "A", "3", "2026-01-01", "2026-01-02T00:00:00Z"]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.sampled_from("ab"), SCALARS, max_size=2))


def operand(op: str) -> st.SearchStrategy[Any]:
    plain = SCALARS.filter(lambda v: not isinstance(v, float) or v < 1e300)
    ordered = plain.filter(lambda v: v is not None and not isinstance(v, bool))
    if op in ("in", "not_in"):
        return st.lists(plain, max_size=3).map(tuple)
    if op == "between":
        return st.tuples(ordered, ordered)
    if op == "exists":
        return st.booleans()
    if op in ("gt", "gte", "lt", "lte"):
        return ordered
    return plain


comparisons = st.sampled_from(OPERATORS).flatmap(lambda op: operand(op).map(lambda v: Comparison(op, v)))  # type: ignore[arg-type]


@settings(max_examples=1500, deadline=None)
@given(value=VALUES, comparison=comparisons)
def test_a_compiled_comparison_is_values_holds_over_doubles(value: Any, comparison: Comparison) -> None:
    as_doubles = Comparison(comparison.op, double(comparison.value))
    assert compile_test((comparison,))(value) == holds(double(value), as_doubles)


@settings(max_examples=500, deadline=None)
@given(value=VALUES, several=st.lists(comparisons, max_size=3).map(tuple))
def test_compiled_comparisons_all_hold(value: Any, several: tuple[Comparison, ...]) -> None:
    as_doubles = tuple(Comparison(c.op, double(c.value)) for c in several)
    assert compile_test(several)(value) == all_hold(double(value), as_doubles)


def test_numbers_compare_as_doubles() -> None:
    assert compile_test((Comparison("eq", 2**53),))(2**53 + 1)
    assert not compile_test((Comparison("gt", 2**53),))(2**53 + 1)
    assert compile_test((Comparison("in", (2**53,)),))(2**53 + 1)
    assert compile_test((Comparison("contains", 2**53),))([2**53 + 1])
    assert same_key({"c": 2**53}, (("c",),), None) == same_key({"c": 2**53 + 1}, (("c",),), None)


count_operands = st.one_of(st.integers(0, 12), st.sampled_from([2.5, 0.5, -1, "3"]))
count_comparisons = st.sampled_from(("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between")).flatmap(
    lambda op: (st.lists(count_operands, max_size=3).map(tuple) if op in ("in", "not_in")
                else st.tuples(st.integers(0, 12), st.integers(0, 12)) if op == "between"
                else count_operands).map(lambda v: Comparison(op, v))  # type: ignore[arg-type]
)


@settings(max_examples=500, deadline=None)
@given(tests=st.lists(count_comparisons, min_size=1, max_size=2).map(tuple))
def test_count_tables(tests: tuple[Comparison, ...]) -> None:
    table = CountTest(tests)
    for count in range(40):
        truth, smaller = table.at(count)
        assert truth == all_hold(count, tests)
        disagreeing = [c for c in range(count) if all_hold(c, tests) != truth]
        assert smaller == (max(disagreeing) if disagreeing else -1)
    upward = all(not all_hold(c, tests) or all_hold(c + 1, tests) for c in range(40))
    assert table.upward() == upward


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.integers(-2**60, 2**60), st.floats(-1e6, 1e6, allow_nan=False)), max_size=12))
def test_sums_are_exact_over_doubles_and_rounded_once(values: list[float]) -> None:
    total = sum(exact(v) for v in values)
    truth = sum((Fraction(float(v)) for v in values), Fraction(0))
    assert to_float(total) == float(truth)
    if values:
        assert to_float(total, len(values)) == float(truth / len(values))


@settings(max_examples=500, deadline=None)
@given(value=st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-2**1000, 2**1000),
                       st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308])))
def test_a_double_in_units_of_the_smallest_subnormal_is_exact(value: float) -> None:
    """The compiled build reads the significand with frexp; both builds must give the double's exact value."""
    assert exact(value) == Fraction(float(value)) * 2**1074


@settings(max_examples=300, deadline=None)
@given(first=SCALARS, second=SCALARS, other=st.sampled_from(["a", 3, 3.0, True]), two=st.booleans())
def test_same_keys_are_equal_exactly_when_the_values_are(first: Any, second: Any, other: Any, two: bool) -> None:
    """One path or several: keys equal as values.py's ``eq`` on doubles, and hash alike when equal."""
    paths = (("v",), ("w",)) if two else (("v",),)
    key_a = same_key({"v": first, "w": other}, paths, None)
    key_b = same_key({"v": second, "w": other}, paths, None)
    if first is None or second is None:
        assert (key_a is None) == (first is None) and (key_b is None) == (second is None)
        return
    equal = holds(double(first), Comparison("eq", double(second)))
    assert (key_a == key_b) == equal
    if equal:
        assert hash(key_a) == hash(key_b)


def test_a_sum_beyond_the_largest_double_is_infinite() -> None:
    assert to_float(exact(1.7e308) + exact(1.7e308)) == float("inf")
    assert to_float(-exact(1.7e308) - exact(1.7e308)) == float("-inf")


def test_what_counts_as_a_number_and_as_the_same_value() -> None:
    assert [number(v) for v in (1, 2.5, True, "3", None, float("inf"))] == [True, True, False, False, False, False]
    assert same_key({"c": 3}, (("c",),), None) == same_key({"c": 3.0}, (("c",),), None)
    assert same_key({"c": True}, (("c",),), None) != same_key({"c": 1}, (("c",),), None)
    assert same_key({"c": None}, (("c",),), 7) is None                    # missing: not a matching A
    assert same_key({"c": [1]}, (("c",),), None) is None                  # a list B equals nothing
    assert same_key({"c": [1]}, (("c",),), 7) != same_key({"c": [1]}, (("c",),), 8)


@settings(max_examples=300, deadline=None)
@given(lists=st.lists(st.lists(st.integers(0, 50), max_size=30).map(sorted), min_size=1, max_size=3),
       starts=st.lists(st.integers(0, 30), min_size=3, max_size=3), k=st.integers(1, 40))
def test_the_kth_largest_of_several_windows(lists: list[list[int]], starts: list[int], k: int) -> None:
    parts = [(values, min(start, len(values))) for values, start in zip(lists, starts)]
    merged = sorted(v for values, start in parts for v in values[start:])
    if 1 <= k <= len(merged):
        assert _largest(parts, k) == merged[-k]


@settings(max_examples=300)
@given(times=st.lists(st.integers(-(2**62), 2**62), max_size=40).map(sorted),
       probes=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=6))
def test_searching_a_windows_instants_is_bisect(times: list[int], probes: list[int]) -> None:
    window = array("q", times)
    for probe in [*probes, *times, *(t - 1 for t in times), *(t + 1 for t in times)]:
        if not -(2**63) <= probe < 2**63:
            continue
        assert after(window, probe) == bisect_right(times, probe)
        assert later_than(window, probe) == (bool(times) and times[-1] > probe)


@given(at=st.integers(-(2**62), 2**62), seq=st.integers(-(2**63), 2**63 - 1))
def test_a_stamp_is_time_then_seq(at: int, seq: int) -> None:
    assert stamp(at, seq) == at * 2**SEQ_BITS + seq
    if seq >= 0:
        assert unstamp(stamp(at, seq)) == (at, seq)
