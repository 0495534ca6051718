"""What a set of definitions needs from the inputs: which JSON values, typed how.

The compiled segment logic reads typed columns only; the engine-specific
preparation (``inputs.py`` with a ``dialects.py`` dialect) produces them.
This module is the contract between the two: for every property path and
every trait the definitions reference, the names of its typed columns.

Every referenced value gets four *scalar facets*:

- ``present``: the value is there and not JSON null (never SQL NULL);
- ``num`` (DOUBLE), ``str`` (text), ``bool``: the value when it is of that
  kind, else NULL; at most one of them is non-NULL.

and, when a ``contains`` condition looks into it as a list, the *items*
facets ``items_num``, ``items_str``, ``items_bool``: the list's elements of
that kind (an empty list or NULL otherwise).

A property path is only read from the events that a condition looks at it
on (``scope``), so the preparation parses no JSON for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from segmint.segments.definition import (
    AggregateMeasure,
    Comparison,
    Condition,
    EventMatch,
    Performed,
    SegmentDefinition,
    TraitCondition,
    walk,
)

if TYPE_CHECKING:
    from segmint.traits.definition import TraitDefinition

ValueKind = Literal["num", "str", "bool"]
SCALAR_FACETS = ("present", "num", "str", "bool")


def operand_kind(operand: Any) -> ValueKind | None:
    """The comparison kind of an operand (None for null, which equals nothing)."""
    if isinstance(operand, bool):
        return "bool"
    if isinstance(operand, (int, float)):
        return "num"
    if isinstance(operand, str):
        return "str"
    return None


@dataclass
class ValueNeed:
    """One referenced value: its column prefix, the list kinds ``contains`` seeks."""

    prefix: str
    items: set[ValueKind] = field(default_factory=set)
    scope: set[str] = field(default_factory=set)  # event names it is read on (properties only)

    def column(self, facet: str) -> str:
        return f"{self.prefix}_{facet}"

    def columns(self) -> list[str]:
        return [self.column(f) for f in SCALAR_FACETS] + [self.column(f"items_{k}") for k in sorted(self.items)]


@dataclass
class Needs:
    """Every property path and trait that the definitions read."""

    properties: dict[tuple[str, ...], ValueNeed] = field(default_factory=dict)
    traits: dict[str, ValueNeed] = field(default_factory=dict)
    events: set[str] = field(default_factory=set)
    # Computed traits read (``traits/batch.py`` computes them from the events).
    computed: dict[str, tuple[TraitDefinition, ValueNeed]] = field(default_factory=dict)

    def property(self, path: tuple[str, ...], event: str) -> ValueNeed:
        need = self.properties.get(path)
        if need is None:
            need = self.properties[path] = ValueNeed(f"p{len(self.properties)}")
        need.scope.add(event)
        return need

    def computed_trait(self, definition: TraitDefinition) -> ValueNeed:
        """A computed trait and the event values it reads."""
        found = self.computed.get(definition.name)
        if found is not None:
            return found[1]
        need = ValueNeed(f"c{len(self.computed)}")
        self.computed[definition.name] = (definition, need)
        _match(definition.match, self)
        if definition.path is not None:
            self.property(definition.path, definition.match.event)
        return need

    def trait(self, name: str) -> ValueNeed:
        need = self.traits.get(name)
        if need is None:
            need = self.traits[name] = ValueNeed(f"t{len(self.traits)}")
        return need


def needs_of(
    definitions: Iterable[SegmentDefinition], computed: Mapping[str, TraitDefinition] | None = None
) -> Needs:
    """Collect what ``definitions`` read, in a stable order (first use first).

    A ``trait`` condition naming one of ``computed`` reads that computed
    trait, not an ``identify`` trait.
    """
    needs = Needs()
    for definition in definitions:
        _collect(definition.condition, needs, computed or {})
    return needs


def _collect(condition: Condition, needs: Needs, computed: Mapping[str, TraitDefinition]) -> None:
    for node in walk(condition):
        if isinstance(node, TraitCondition):
            if node.trait in computed:
                needs.computed_trait(computed[node.trait])
            else:
                _seek(needs.trait(node.trait), node.comparisons)
        elif isinstance(node, Performed):
            _match(node.match, needs)
            if isinstance(node.measure, AggregateMeasure):
                needs.property(node.measure.property, node.match.event)
            if node.sequence is not None:
                _match(node.sequence.then, needs)
                for path in node.sequence.same:
                    needs.property(path, node.match.event)
                    needs.property(path, node.sequence.then.event)


def _match(match: EventMatch, needs: Needs) -> None:
    needs.events.add(match.event)
    for where in match.where:
        _seek(needs.property(where.path, match.event), where.comparisons)


def _seek(need: ValueNeed, comparisons: tuple[Comparison, ...]) -> None:
    for comparison in comparisons:
        if comparison.op == "contains":
            kind = operand_kind(comparison.value)
            if kind is not None:
                need.items.add(kind)
