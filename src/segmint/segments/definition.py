"""The segment language as typed values (see shared/spec/segments.md).

A definition is a tree of frozen dataclasses; parsing (``parse.py``)
builds it from YAML and every evaluator (SQL, real time, the tests'
reference) walks the same tree. Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Union

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between", "contains", "exists")
Operator = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between", "contains", "exists"]
AGGREGATES = ("sum", "avg", "min", "max")
Aggregate = Literal["sum", "avg", "min", "max"]

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


MAX_DURATION_SECONDS = 1000 * 36525 * 864  # 1000 years of 365.25 days


@dataclass(frozen=True)
class Duration:
    """A span written as an integer and a unit: ``30m``, ``48h``, ``7d``, ``2w``."""

    text: str
    seconds: int

    @classmethod
    def parse(cls, text: str) -> "Duration":
        match = _DURATION.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise ValueError(f"{text!r} is not a duration: write an integer and a unit s, m, h, d or w (e.g. 30m, 7d)")
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        if seconds > MAX_DURATION_SECONDS:
            # Instants plus windows must fit the real-time evaluator's 64-bit microseconds.
            raise ValueError(f"{text!r} is longer than segmint handles: at most 1000 years "
                             f"({MAX_DURATION_SECONDS // _UNIT_SECONDS['w']}w)")
        return cls(text.strip(), seconds)

    @property
    def delta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    @property
    def micros(self) -> int:
        return self.seconds * 1_000_000


@dataclass(frozen=True)
class Comparison:
    """One operator and its operand: ``gte: 30``, ``in: [a, b]``, ``exists: true``."""

    op: Operator
    value: Any


@dataclass(frozen=True)
class PropertyFilter:
    """``where`` entry: a dot path into the event's properties and the comparisons that must all hold."""

    path: tuple[str, ...]
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class EventMatch:
    """Which events a condition looks at: name, ``where`` filters and ``within`` window."""

    event: str
    where: tuple[PropertyFilter, ...] = ()
    within: Duration | None = None


@dataclass(frozen=True)
class CountMeasure:
    comparisons: tuple[Comparison, ...] = (Comparison("gte", 1),)


@dataclass(frozen=True)
class AggregateMeasure:
    function: Aggregate
    property: tuple[str, ...]
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class Sequence:
    """``followed_by`` / ``not_followed_by``: what B is, the gap allowed, what must match."""

    negated: bool
    then: EventMatch  # `within` here is the gap D between A and B
    same: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class All:
    conditions: tuple["Condition", ...]


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple["Condition", ...]


@dataclass(frozen=True)
class Not:
    condition: "Condition"


@dataclass(frozen=True)
class TraitCondition:
    trait: str
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class Performed:
    match: EventMatch
    measure: CountMeasure | AggregateMeasure = field(default_factory=CountMeasure)
    sequence: Sequence | None = None


@dataclass(frozen=True)
class InSegment:
    segment: str


Condition = Union[All, AnyOf, Not, TraitCondition, Performed, InSegment]


@dataclass(frozen=True)
class SegmentDefinition:
    name: str
    condition: Condition
    description: str | None = None
    tags: tuple[str, ...] = ()


def walk(condition: Condition):  # type: ignore[no-untyped-def]
    """Every condition in the tree, parents before children."""
    yield condition
    if isinstance(condition, (All, AnyOf)):
        for child in condition.conditions:
            yield from walk(child)
    elif isinstance(condition, Not):
        yield from walk(condition.condition)


def referenced_segments(condition: Condition) -> set[str]:
    return {c.segment for c in walk(condition) if isinstance(c, InSegment)}
