"""Why a profile is (or is not) in a segment: the condition tree with its verdicts.

Each node says its ``kind``, a one-line ``condition`` in the language's own
words, whether it ``holds``, and, for ``performed`` and ``trait``, the
events behind the verdict (seq, event time, event name).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from segmint.segments.definition import (
    AggregateMeasure,
    All,
    AnyOf,
    Comparison,
    Condition,
    EventMatch,
    InSegment,
    Not,
    TraitCondition,
)
from segmint.segments.realtime.plan import Plan
from segmint.segments.realtime.state import IdState


def _comparisons(comparisons: tuple[Comparison, ...]) -> str:
    def operand(value: Any) -> str:
        return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, tuple) else str(value)

    return ", ".join(f"{c.op} {operand(c.value)}" for c in comparisons)


def _match(match: EventMatch) -> str:
    text = match.event
    if match.where:
        text += " where " + "; ".join(f"{'.'.join(f.path)} {_comparisons(f.comparisons)}" for f in match.where)
    return text


def describe(condition: Condition) -> str:
    """A one-line rendering of a condition, e.g. ``performed Order Completed within 30d, count gte 2``."""
    if isinstance(condition, All):
        return "all of " + str(len(condition.conditions))
    if isinstance(condition, AnyOf):
        return "any of " + str(len(condition.conditions))
    if isinstance(condition, Not):
        return "not"
    if isinstance(condition, InSegment):
        return f"in segment {condition.segment}"
    if isinstance(condition, TraitCondition):
        return f"trait {condition.trait} {_comparisons(condition.comparisons)}"
    match, measure, sequence = condition.match, condition.measure, condition.sequence
    text = "performed " + _match(match)
    if match.within:
        text += f" within {match.within.text}"
    if sequence is not None:
        then = sequence.then
        text += f", {'not ' if sequence.negated else ''}followed by {_match(then)}"
        if then.within:
            text += f" within {then.within.text}"
        if sequence.same:
            text += " with the same " + ", ".join(".".join(p) for p in sequence.same)
    elif isinstance(measure, AggregateMeasure):
        text += f", {measure.function} of {'.'.join(measure.property)} {_comparisons(measure.comparisons)}"
    else:
        text += f", count {_comparisons(measure.comparisons)}"
    return text


def explain_condition(condition: Condition, plan: Plan, states: Sequence[IdState], segments: list[bool],
                      now: int) -> dict[str, Any]:
    """The verdict tree of ``condition`` for a profile with these states and memberships."""
    if isinstance(condition, (All, AnyOf)):
        children = [explain_condition(c, plan, states, segments, now) for c in condition.conditions]
        verdicts = [c["holds"] for c in children]
        holds = all(verdicts) if isinstance(condition, All) else any(verdicts)
        kind = "all" if isinstance(condition, All) else "any"
        return {"kind": kind, "condition": describe(condition), "holds": holds, "conditions": children}
    if isinstance(condition, Not):
        child = explain_condition(condition.condition, plan, states, segments, now)
        return {"kind": "not", "condition": "not", "holds": not child["holds"], "conditions": [child]}
    if isinstance(condition, InSegment):
        held = segments[plan.names.index(condition.segment)]
        return {"kind": "in_segment", "condition": describe(condition), "holds": held}
    leaf = plan.leaves[plan.leaf_of[condition]]
    found = leaf.explain(states, now)
    kind = "trait" if isinstance(condition, TraitCondition) else "performed"
    node = {"kind": kind, "condition": describe(condition), **found}
    return {k: v for k, v in node.items() if v is not None or k in ("value",)}
