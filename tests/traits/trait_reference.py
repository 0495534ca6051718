"""An obviously correct computation of computed traits, for the tests only.

Written from docs/traits.md with no code shared with the product's
evaluators: profiles and their messages come from the segment tests'
reference (``tests/segments/reference.py``, itself independent of the
product), and every trait is computed by scanning the profile's events.
Sums are exact (fractions) and rounded once.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from reference import Message, Profile, at_path, holds, profiles_at, same_value, satisfies_all

from segmint.config.model import IdentityConfig
from segmint.segments.definition import All, AnyOf, Condition, Not, TraitCondition
from segmint.segments.parse import LoadedSegments
from segmint.traits.definition import TraitDefinition

DAY = timedelta(days=1)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scalar(value: Any) -> bool:
    return _number(value) or isinstance(value, (str, bool))


def _plain(value: Any) -> Any:
    return float(value) if _number(value) else value


def _rounded(total: Fraction) -> float:
    try:
        return float(total)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def _matching(profile: Profile, trait: TraitDefinition, low: datetime | None, now: datetime) -> list[Message]:
    """The profile's events of the trait's name and filters with low < time <= now."""
    match = trait.match
    return [
        m for m in profile.tracks
        if m.event == match.event
        and all(satisfies_all(at_path(m.properties, f.path), f.comparisons) for f in match.where)
        and (low is None or m.time > low) and m.time <= now
    ]


def _series(trait: TraitDefinition, events: list[Message]) -> float:
    if trait.measure == "count":
        return float(len(events))
    assert trait.path is not None
    return _rounded(sum((Fraction(v) for m in events if _number(v := at_path(m.properties, trait.path))), Fraction(0)))


def trait_value(profile: Profile, trait: TraitDefinition, now: datetime) -> Any:
    kind = trait.kind
    if kind == "trend":
        assert trait.period is not None
        period = trait.period.delta
        current = _series(trait, _matching(profile, trait, now - period, now))
        previous = _series(trait, _matching(profile, trait, now - 2 * period, now - period))
        return current - previous
    within = trait.match.within
    events = _matching(profile, trait, now - within.delta if within else None, now)
    if kind == "rolling_avg":
        assert within is not None and trait.per is not None
        return _series(trait, events) / (within.seconds / trait.per.seconds)
    if kind == "count":
        return len(events)
    if kind == "days_since":
        if not events:
            return None
        last = max(m.time for m in events)
        return math.floor((now - last) / DAY)
    assert trait.path is not None
    path = trait.path
    if kind in ("sum", "avg", "min", "max"):
        numbers = [at_path(m.properties, path) for m in events]
        numbers = [v for v in numbers if _number(v)]
        if not numbers:
            return None
        if kind == "min":
            return float(min(numbers))
        if kind == "max":
            return float(max(numbers))
        total = sum(Fraction(v) for v in numbers)
        return _rounded(total if kind == "sum" else total / len(numbers))
    valued = sorted(
        ((m.order, at_path(m.properties, path)) for m in events if _scalar(at_path(m.properties, path))),
        key=lambda pair: pair[0],
    )
    if kind == "first":
        return _plain(valued[0][1]) if valued else None
    if kind == "last":
        return _plain(valued[-1][1]) if valued else None
    # Distinct values, equal as the language says (3 == 3.0; "3" != 3; True != 1).
    groups: list[list[Any]] = []  # [value, count, latest order]
    for order, value in valued:
        for group in groups:
            if same_value(group[0], value):
                group[1] += 1
                group[2] = max(group[2], order)
                break
        else:
            groups.append([value, 1, order])
    if kind == "distinct_count":
        return len(groups)
    assert kind == "most_frequent"
    if not groups:
        return None
    return _plain(max(groups, key=lambda g: (g[1], g[2]))[0])


def reference_traits(
    rows: list[dict[str, Any]], traits: dict[str, TraitDefinition], identity: IdentityConfig, now: datetime
) -> dict[str, dict[str, Any]]:
    """{profile id: {trait: value}} for every profile with a message by ``now``."""
    return {
        p.id: {name: trait_value(p, trait, now) for name, trait in traits.items()}
        for p in sorted(profiles_at(rows, identity, now), key=lambda p: p.id)
    }


def _holds(profile: Profile, condition: Condition, now: datetime, members: dict[str, set[str]],
           values: dict[str, Any], computed: set[str]) -> bool:
    if isinstance(condition, All):
        return all(_holds(profile, c, now, members, values, computed) for c in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(_holds(profile, c, now, members, values, computed) for c in condition.conditions)
    if isinstance(condition, Not):
        return not _holds(profile, condition.condition, now, members, values, computed)
    if isinstance(condition, TraitCondition) and condition.trait in computed:
        return satisfies_all(values[condition.trait], condition.comparisons)
    return holds(profile, condition, now, members)


def reference_memberships(
    rows: list[dict[str, Any]], segments: LoadedSegments, identity: IdentityConfig, now: datetime
) -> dict[str, list[str]]:
    """Segment members at ``now``, ``trait:`` reading computed traits where declared."""
    profiles = profiles_at(rows, identity, now)
    computed = set(segments.computed)
    values = {p.id: {n: trait_value(p, t, now) for n, t in segments.computed.items()} for p in profiles}
    members: dict[str, set[str]] = {}
    for name, definition in segments.definitions.items():
        members[name] = {p.id for p in profiles if _holds(p, definition.condition, now, members, values[p.id], computed)}
    return {name: sorted(ids) for name, ids in members.items()}
