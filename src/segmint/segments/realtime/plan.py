"""Definitions compiled for real-time evaluation: leaves, logs, routes, segment formulas.

- Every distinct ``performed`` / ``trait`` condition becomes one *leaf*
  (equal conditions in several segments share it).
- Every distinct ``performed`` + ``where`` becomes one *route* (its filter
  is tested once per message), feeding the logs that read it: one
  :class:`SelectorSlot` for all its counts (window kept for the longest
  ``within``), one :class:`AggregateSlot` per aggregated property, and the
  A or B side of each sequence.
- Each slot also says how a new event moves the leaves it feeds, so the
  evaluator can skip or decide them without a full evaluation: ``leaves``
  (leaf, the value a new event cannot change: an upward count already true,
  a ``followed_by`` already true, a ``not_followed_by`` seeing a B while
  false), ``quick`` ("performed X within W" and "none within W": decided by
  the event itself), ``counts`` (all-history counts: decided by the total)
  and ``deadlines`` (a new A of ``not_followed_by`` only schedules one).
- Each segment becomes a :class:`Formula` over leaf values ``L`` and the
  values of the segments it references ``S``: a tree of small nodes, a C
  method each when compiled (a Python lambda per segment cost a frame per
  call, about one per message); segments are numbered in dependency order,
  so a segment's references come first.

Everything here is decided once per set of definitions; the evaluator only
indexes into it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from segmint.config.model import IdentityConfig
from segmint.segments.definition import (
    AggregateMeasure,
    All,
    AnyOf,
    Condition,
    EventMatch,
    InSegment,
    Not,
    Performed,
    PropertyFilter,
    TraitCondition,
    walk,
)
from segmint.segments.parse import LoadedSegments
from segmint.segments.realtime.compare import Test, where_test
from segmint.segments.realtime.leaves import (
    CountLeaf,
    FollowedByLeaf,
    Leaf,
    NotFollowedByLeaf,
    RecentLeaf,
    TotalLeaf,
    TraitLeaf,
    WindowAggregateLeaf,
    WindowCountLeaf,
)
from segmint.segments.realtime.state import (
    AggregateSlot,
    SelectorSlot,
    SequenceSlot,
    Slot,
)
from segmint.traits.definition import TraitDefinition


SNAPSHOT_FORMAT = 5  # 2: numbers as doubles (sums, min, max, same keys); 3: IdState's first sighting as (at, seq);
                     # 4: identity links as named tuples; 5: same keys of one path as the value itself,
                     # identifier states pickled without their profile


class Route:
    """Messages of one event name that pass one ``where``, and the slots they feed.

    A plain class (compiled with C fields, plan.pxd): the evaluator reads both
    fields for every route of every message.
    """

    __slots__ = ("slots", "test")

    def __init__(self, test: Test | None) -> None:
        self.test = test
        self.slots: list[Slot] = []


@dataclass
class Plan:
    names: list[str]                       # segments, in dependency order
    conditions: list[Condition]
    formulas: list[Formula]
    leaves: list[Leaf]
    leaf_of: dict[Condition, int]          # each leaf condition -> its leaf
    slot_count: int
    routes: dict[str, list[Route]]         # event name -> routes
    parsed: frozenset[str]                 # events whose routes read their properties (others: not parsed)
    traits: dict[str, tuple[int, ...]]     # trait name -> leaves reading it
    leaves_of_slot: list[tuple[int, ...]]
    segments_of_leaf: list[tuple[int, ...]]
    dependents: list[tuple[int, ...]]      # segment -> segments that reference it
    timed: tuple[int, ...]                 # leaves that time alone can change
    # Leaves whose value once their due passes is known without evaluating them: "performed X
    # within W" (``RecentLeaf``) is due exactly when its latest event leaves the window.
    expiring: dict[int, bool] = field(default_factory=dict)
    computed: dict[str, tuple[TraitDefinition, int]] = field(default_factory=dict)  # computed trait -> its slot
    default_leaves: list[bool] = field(default_factory=list)   # on a profile with no events
    default_segments: list[bool] = field(default_factory=list)
    fingerprint: str = ""


def fingerprint(segments: LoadedSegments, identity: IdentityConfig) -> str:
    """What a snapshot's state depends on: the usable definitions and the identity rules."""
    text = repr([(name, d.condition) for name, d in segments.definitions.items()])
    text += repr(sorted(segments.computed.items()))
    text += identity.model_dump_json()
    return hashlib.sha256(f"{SNAPSHOT_FORMAT}:{text}".encode()).hexdigest()


class _Builder:
    def __init__(self, computed: dict[str, TraitDefinition]) -> None:
        from segmint.traits.realtime import TraitSlot

        self.leaves: list[Leaf] = []
        self.leaf_of: dict[Condition, int] = {}
        self.slots: list[Slot] = []
        self.slot_leaves: list[list[int]] = []
        self.routes: dict[tuple[str, tuple[PropertyFilter, ...]], Route] = {}
        self.selector_slot: dict[tuple[str, tuple[PropertyFilter, ...]], SelectorSlot] = {}
        self.aggregate_slot: dict[tuple[str, tuple[PropertyFilter, ...], tuple[str, ...]], AggregateSlot] = {}
        # Every computed trait has a slot, read or not, so its values can be read at any instant.
        self.trait_slot: dict[str, TraitSlot] = {}
        for name, definition in computed.items():
            slot = TraitSlot(len(self.slots), definition)
            self._new_slot(slot, self._route(definition.match))  # type: ignore[arg-type]
            self.trait_slot[name] = slot

    def _route(self, match: EventMatch) -> Route:
        key = (match.event, match.where)
        if key not in self.routes:
            self.routes[key] = Route(where_test(match.where))
        return self.routes[key]

    def _new_slot(self, slot: Slot, route: Route | None) -> Slot:
        self.slots.append(slot)
        self.slot_leaves.append([])
        if route is not None:
            route.slots.append(slot)
        return slot

    def leaf(self, condition: Performed | TraitCondition) -> int:
        found = self.leaf_of.get(condition)
        if found is not None:
            return found
        index = len(self.leaves)
        self.leaf_of[condition] = index
        if isinstance(condition, TraitCondition):
            computed = self.trait_slot.get(condition.trait)
            if computed is None:
                self.leaves.append(TraitLeaf(condition.trait, condition.comparisons))
                return index
            from segmint.traits.realtime import ComputedTraitLeaf

            self.leaves.append(ComputedTraitLeaf(computed.index, computed.definition, condition.comparisons))
            computed.leaves += ((index, None),)
            self.slot_leaves[computed.index].append(index)
            return index
        match, measure, sequence = condition.match, condition.measure, condition.sequence
        window = match.within.micros if match.within else 0
        if sequence is not None:
            slot = len(self.slots)
            gap = sequence.then.within.micros if sequence.then.within else None
            sides = []
            for is_a, m in ((True, match), (False, sequence.then)):
                side = SequenceSlot(slot, is_a, sequence.same, window, gap, sequence.negated)
                sides.append(side)
                self._new_slot(side, self._route(m))
            self.slots.pop()  # both sides write one log: one slot index
            self.slot_leaves.pop()
            if sequence.negated:
                assert gap is not None
                leaf: Leaf = NotFollowedByLeaf(slot, match.event, window, gap)
                # A new A only adds a deadline (unless it is late enough to have passed);
                # a new B only ever follows an A: an abandonment can end, never start.
                sides[0].deadlines += ((index, gap, window),)
                sides[1].leaves += ((index, False),)
            else:
                leaf = FollowedByLeaf(slot, match.event, sequence.then.event, window, gap)
                if window:
                    # A new A or B only adds pairs: once true, an event keeps it true.
                    sides[0].leaves += ((index, True),)
                    sides[1].leaves += ((index, True),)
                else:
                    # Without a window on A a pair holds forever, and a new event can only make
                    # pairs with itself: decided in place by looking for its partner
                    # (SequenceSlot.pairs), not by evaluating the leaf over every A.
                    sides[0].follows += (index,)
                    sides[1].follows += (index,)
        elif isinstance(measure, AggregateMeasure):
            key = (match.event, match.where, measure.property)
            agg = self.aggregate_slot.get(key)
            if agg is None:
                agg = self.aggregate_slot[key] = self._new_slot(  # type: ignore[assignment]
                    AggregateSlot(len(self.slots), measure.property, 0, False), self._route(match))
            assert isinstance(agg, AggregateSlot)
            if window:
                agg.horizon = max(agg.horizon, window)
                leaf = WindowAggregateLeaf(agg.index, match.event, window, measure.function, measure.comparisons)
            else:
                agg.history = True
                leaf = TotalLeaf(agg.index, match.event, measure.function, measure.comparisons)
            agg.leaves += ((index, None),)
            slot = agg.index
        else:
            key2 = (match.event, match.where)
            sel = self.selector_slot.get(key2)
            if sel is None:
                sel = self.selector_slot[key2] = self._new_slot(  # type: ignore[assignment]
                    SelectorSlot(len(self.slots), 0, False), self._route(match))
            assert isinstance(sel, SelectorSlot)
            if window:
                sel.horizon = max(sel.horizon, window)
                leaf = WindowCountLeaf(sel.index, match.event, window, measure.comparisons)
                wanted = leaf.test.is_any()
                if wanted is not None:
                    # Decided by the latest event alone: updated in place as events come.
                    leaf = RecentLeaf(sel.index, match.event, window, wanted)
                    sel.quick += ((index, window, wanted),)
            else:
                sel.recent = True
                leaf = CountLeaf(sel.index, match.event, measure.comparisons)
                # Decided by the all-history count alone: updated in place as events come.
                sel.counts += ((index, leaf.test),)
            if isinstance(leaf, WindowCountLeaf):
                # A larger count keeps an upward-closed test (gte, gt) true.
                sel.leaves += ((index, True if leaf.test.upward() else None),)
            slot = sel.index
        self.leaves.append(leaf)
        self.slot_leaves[slot].append(index)
        return index


class Formula:
    """A segment's condition over leaf values ``L`` and segment values ``S``: ``formula(L, S)``, or ``.holds``."""

    __slots__ = ()

    def __call__(self, leaves: list[bool], segments: list[bool]) -> bool:
        return self.holds(leaves, segments)

    def holds(self, leaves: list[bool], segments: list[bool]) -> bool:
        raise NotImplementedError


class _Value(Formula):
    """A leaf's value, or a referenced segment's."""

    __slots__ = ("index", "of_segment")

    def __init__(self, index: int, of_segment: bool) -> None:
        self.index, self.of_segment = index, of_segment

    def holds(self, leaves: list[bool], segments: list[bool]) -> bool:
        return segments[self.index] if self.of_segment else leaves[self.index]


class _Negation(Formula):
    __slots__ = ("part",)

    def __init__(self, part: Formula) -> None:
        self.part = part

    def holds(self, leaves: list[bool], segments: list[bool]) -> bool:
        return not self.part.holds(leaves, segments)


class _Junction(Formula):
    """``all`` (every part holds; none: true) or ``any`` (some part holds; none: false)."""

    __slots__ = ("any_of", "parts")

    def __init__(self, parts: list[Formula], any_of: bool) -> None:
        self.parts, self.any_of = parts, any_of

    def holds(self, leaves: list[bool], segments: list[bool]) -> bool:
        decisive = self.any_of  # the answer of a part that decides the whole: true for any, false for all
        for part in self.parts:
            if part.holds(leaves, segments) == decisive:
                return decisive
        return not decisive


def _formula(condition: Condition, leaf_of: dict[Condition, int], segment_of: dict[str, int]) -> Formula:
    if isinstance(condition, (All, AnyOf)):
        parts = [_formula(c, leaf_of, segment_of) for c in condition.conditions]
        return _Junction(parts, any_of=isinstance(condition, AnyOf))
    if isinstance(condition, Not):
        return _Negation(_formula(condition.condition, leaf_of, segment_of))
    if isinstance(condition, InSegment):
        return _Value(segment_of[condition.segment], of_segment=True)
    return _Value(leaf_of[condition], of_segment=False)


def compile_plan(segments: LoadedSegments, identity: IdentityConfig) -> Plan:
    """Compile the usable definitions (``segments.definitions``, in dependency order)."""
    builder = _Builder(segments.computed)
    names = list(segments.definitions)
    segment_of = {name: i for i, name in enumerate(names)}
    conditions = [segments.definitions[name].condition for name in names]
    leaves_by_segment: list[set[int]] = []
    dependents: list[list[int]] = [[] for _ in names]
    formulas: list[Formula] = []
    for i, condition in enumerate(conditions):
        used = set()
        for node in walk(condition):
            if isinstance(node, (Performed, TraitCondition)):
                used.add(builder.leaf(node))
            elif isinstance(node, InSegment):
                dependents[segment_of[node.segment]].append(i)
        leaves_by_segment.append(used)
        formulas.append(_formula(condition, builder.leaf_of, segment_of))
    segments_of_leaf: list[list[int]] = [[] for _ in builder.leaves]
    for i, used in enumerate(leaves_by_segment):
        for leaf in used:
            segments_of_leaf[leaf].append(i)
    routes: dict[str, list[Route]] = {}
    for (event, _), route in builder.routes.items():
        routes.setdefault(event, []).append(route)
    parsed = frozenset(event for event, found in routes.items()
                       if any(r.test is not None or any(slot.reads_properties for slot in r.slots) for r in found))
    traits: dict[str, list[int]] = {}
    for i, built in enumerate(builder.leaves):
        if isinstance(built, TraitLeaf):
            traits.setdefault(built.name, []).append(i)
    plan = Plan(
        names=names,
        conditions=conditions,
        formulas=formulas,
        leaves=builder.leaves,
        leaf_of=builder.leaf_of,
        slot_count=len(builder.slots),
        routes=routes,
        parsed=parsed,
        traits={name: tuple(v) for name, v in traits.items()},
        leaves_of_slot=[tuple(v) for v in builder.slot_leaves],
        segments_of_leaf=[tuple(sorted(v)) for v in segments_of_leaf],
        dependents=[tuple(sorted(set(v))) for v in dependents],
        timed=tuple(i for i, leaf in enumerate(builder.leaves) if leaf.timed),
        fingerprint=fingerprint(segments, identity),
        computed={name: (slot.definition, slot.index) for name, slot in builder.trait_slot.items()},
        expiring={i: not leaf.wanted for i, leaf in enumerate(builder.leaves) if isinstance(leaf, RecentLeaf)},
    )
    plan.default_leaves = [leaf.evaluate([], 0)[0] for leaf in plan.leaves]
    plan.default_segments = [False] * len(names)
    for i, formula in enumerate(formulas):
        plan.default_segments[i] = formula(plan.default_leaves, plan.default_segments)
    return plan
