"""Computed traits as typed values (see docs/traits.md).

A computed trait is one number or value per profile, derived from the
profile's track events: which events (``of`` an event name, ``where``
property filters, ``within`` a window: the segment language's
:class:`~segmint.segments.definition.EventMatch`), and what to compute over
them (``kind``). Parsing (``parse.py``) builds these from YAML; the batch
compiler (``batch.py``), the real-time evaluator (``realtime.py``) and the
tests' reference all read the same values. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from segmint.segments.definition import Duration, EventMatch

Kind = Literal[
    "count", "sum", "avg", "min", "max", "first", "last", "most_frequent", "distinct_count",
    "days_since", "trend", "rolling_avg",
]  # fmt: skip
# Kinds whose key names the event (``count: Order Completed``).
EVENT_KINDS: tuple[Kind, ...] = ("count", "days_since")
# Kinds whose key names a property, with ``of: EVENT``.
NUMBER_KINDS: tuple[Kind, ...] = ("sum", "avg", "min", "max")
VALUE_KINDS: tuple[Kind, ...] = ("first", "last", "most_frequent", "distinct_count")
# Kinds whose key is ``count`` or ``sum`` (with ``property``), with ``of: EVENT``.
SERIES_KINDS: tuple[Kind, ...] = ("trend", "rolling_avg")
KINDS: tuple[Kind, ...] = (*EVENT_KINDS, *NUMBER_KINDS, *VALUE_KINDS, *SERIES_KINDS)
# Kinds whose value is an integer (the others are doubles, or a scalar of any kind).
INTEGER_KINDS: tuple[Kind, ...] = ("count", "distinct_count", "days_since")

DAY_MICROS = 86_400_000_000


@dataclass(frozen=True)
class TraitDefinition:
    """One computed trait.

    ``path`` is the dot path of the property the value is read from (None: the events
    themselves are counted); ``measure`` is ``count`` or ``sum`` for
    ``trend`` and ``rolling_avg``; ``period`` is a trend's period (this
    period against the one before); ``per`` a rolling average's bucket.
    """

    name: str
    kind: Kind
    match: EventMatch
    path: tuple[str, ...] | None = None
    measure: Literal["count", "sum"] | None = None
    period: Duration | None = None
    per: Duration | None = None
    description: str | None = None

    @property
    def horizon(self) -> int:
        """How far back (microseconds) an event can still count; 0: all history."""
        if self.kind == "trend":
            assert self.period is not None
            return 2 * self.period.micros
        return self.match.within.micros if self.match.within is not None else 0

    @property
    def timed(self) -> bool:
        """Whether time alone (no new event) can change the value."""
        return self.horizon > 0 or self.kind == "days_since"

    @property
    def buckets(self) -> float:
        """A rolling average's divisor: how many ``per`` spans the window holds."""
        assert self.match.within is not None and self.per is not None
        return self.match.within.seconds / self.per.seconds

    @property
    def value_type(self) -> str:
        """``int``, ``float``, or ``scalar`` (a number, a text or a boolean)."""
        if self.kind in INTEGER_KINDS:
            return "int"
        if self.kind in ("first", "last", "most_frequent"):
            return "scalar"
        return "float"
