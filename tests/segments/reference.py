"""An obviously correct evaluator of segment definitions, for the tests only.

Written straight from shared/spec/segments.md, docs/identity.md and the
semantics the lead settled, with no code shared with the product's
evaluators: the comparison rules, identity resolution, traits and every
condition kind are re-implemented here, plainly and slowly (every question
is answered by scanning lists). Definitions are parsed by the product's
``load_segments``: parsing is not what this module checks.

Readings beyond the spec's words, each settled by the lead except the last:
numbers compare as IEEE doubles (2**53 + 1 equals 2**53); a configured
identifier's ``lowercase`` works one character at a time, as SQL's
``lower()``; sums and averages are exact and rounded once (so they do not
depend on the order of the events; overflow gives an infinity).

Input messages are normalised events: rows of the store's ``events`` table
as dicts (``seq``, ``type``, ``event``, ``user_id``, ``anonymous_id``,
``previous_id``, ``event_time``, ``properties``, ``traits``, ``context``;
JSON columns may be text or already parsed).
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from segmint.config.model import IdentityConfig
from segmint.segments.changes import Memberships
from segmint.segments.definition import (
    AggregateMeasure,
    All,
    AnyOf,
    Comparison,
    Condition,
    EventMatch,
    InSegment,
    Not,
    Performed,
    TraitCondition,
)
from segmint.segments.parse import LoadedSegments

Id = tuple[str, str]  # (kind, value): ("user_id", "u1"), ("anonymous_id", "a1"), ("email", ...)


# ---- messages ---------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    seq: int
    type: str
    time: datetime
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    previous_id: str | None
    properties: dict[str, Any] | None
    traits: dict[str, Any] | None
    context: dict[str, Any] | None

    @property
    def primary(self) -> Id:
        """The identifier whose profile this message counts for."""
        if self.user_id is not None:
            return ("user_id", self.user_id)
        return ("anonymous_id", self.anonymous_id)  # type: ignore[return-value]

    @property
    def order(self) -> tuple[datetime, int]:
        return (self.time, self.seq)


def _json(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        return json.loads(value)
    return value


def as_message(row: dict[str, Any]) -> Message:
    return Message(
        seq=row["seq"],
        type=row["type"],
        time=row["event_time"],
        event=row.get("event"),
        user_id=row.get("user_id"),
        anonymous_id=row.get("anonymous_id"),
        previous_id=row.get("previous_id"),
        properties=_json(row.get("properties")),
        traits=_json(row.get("traits")),
        context=_json(row.get("context")),
    )


# ---- comparison rules -------------------------------------------------------


def _kind(value: Any) -> str | None:
    """None for a missing value (absent or JSON null)."""
    if value is None:
        return None
    if value is True or value is False:
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "list"
    return "object"


def same_value(a: Any, b: Any) -> bool:
    """Equality of the language: numbers as doubles, text exactly, booleans with booleans.

    Lists, objects and missing values are never equal to anything.
    """
    kind = _kind(a)
    if kind is None or kind != _kind(b) or kind in ("list", "object"):
        return False
    if kind == "number":
        return float(a) == float(b)  # so 2**53 + 1 equals 2**53, as in every JSON engine
    return bool(a == b)


def _compare(a: Any, b: Any) -> int | None:
    """-1/0/1 for two numbers (as doubles) or two texts (ISO-8601 dates are just text); else None."""
    kind = _kind(a)
    if kind not in ("number", "text") or kind != _kind(b):
        return None
    if kind == "number":
        a, b = float(a), float(b)
    if a < b:
        return -1
    if a > b:
        return 1
    return 0


def satisfies(value: Any, comparison: Comparison) -> bool:
    """Whether ``value`` (None when missing) meets one operator."""
    op, operand = comparison.op, comparison.value
    missing = _kind(value) is None
    if op == "exists":
        return (not missing) if operand else missing
    if missing:
        return False  # every other operator, ne and not_in included
    if op == "eq":
        return same_value(value, operand)
    if op == "ne":
        return not same_value(value, operand)
    if op == "in":
        return any(same_value(value, choice) for choice in operand)
    if op == "not_in":
        return not any(same_value(value, choice) for choice in operand)
    if op == "contains":
        if _kind(value) == "text":
            return _kind(operand) == "text" and operand in value
        if _kind(value) == "list":
            return any(same_value(item, operand) for item in value)
        return False
    if op == "between":
        low, high = operand
        above, below = _compare(value, low), _compare(value, high)
        return above is not None and below is not None and above >= 0 and below <= 0
    order = _compare(value, operand)
    if order is None:
        return False
    if op == "gt":
        return order > 0
    if op == "gte":
        return order >= 0
    if op == "lt":
        return order < 0
    if op == "lte":
        return order <= 0
    raise AssertionError(f"unknown operator {op}")


def satisfies_all(value: Any, comparisons: tuple[Comparison, ...]) -> bool:
    return all(satisfies(value, c) for c in comparisons)


def at_path(document: Any, path: tuple[str, ...]) -> Any:
    """A nested property by its dot path, None when any step is missing."""
    for step in path:
        if not isinstance(document, dict) or step not in document:
            return None
        document = document[step]
    return document


# ---- identity ---------------------------------------------------------------


def _is_space(ch: str) -> bool:
    return unicodedata.category(ch) == "Zs"


def _configured_value(message: Message, paths: tuple[str, ...], steps: tuple[str, ...]) -> str | None:
    roots = {"properties": message.properties, "traits": message.traits, "context": message.context}
    for path in paths:
        root, *rest = path.split(".")
        found = at_path(roots.get(root), tuple(rest))
        if found is None:
            continue
        if isinstance(found, str):
            text = found
        elif found is True or found is False:
            text = "true" if found else "false"
        else:
            text = json.dumps(found, separators=(",", ":"))
        for step in steps:
            if step == "trim":
                while text and _is_space(text[0]):
                    text = text[1:]
                while text and _is_space(text[-1]):
                    text = text[:-1]
            elif step == "lowercase":
                # Character by character (simple case mapping, as SQL's lower()):
                # no final sigma, and a dotted capital I becomes a plain i.
                text = "".join(ch.lower()[0] if ch.lower() else ch for ch in text)
            elif step == "digits":
                text = "".join(ch for ch in text if ch in "0123456789")
        return text or None
    return None


def carried_ids(message: Message, identity: IdentityConfig) -> list[Id]:
    """Every identifier the message carries, its primary one included."""
    ids: list[Id] = []
    if message.user_id is not None:
        ids.append(("user_id", message.user_id))
    if message.anonymous_id is not None:
        ids.append(("anonymous_id", message.anonymous_id))
    if message.type == "alias" and message.previous_id is not None:
        ids.append(("anonymous_id", message.previous_id))
    for name, config in identity.identifiers.items():
        value = _configured_value(message, config.paths, config.normalize)
        if value is not None:
            ids.append((name, value))
    return ids


def resolve(messages: list[Message], identity: IdentityConfig) -> dict[Id, frozenset[Id]]:
    """Each identifier's profile (the set of its identifiers).

    Links (the primary identifier with each other one a message carries)
    are applied one by one in (event time, seq) order; a link that would
    give the joined profile more identifiers of one kind than its limit, or
    more than ``max_ids`` in all, is refused.
    """
    group: dict[Id, frozenset[Id]] = {}
    links: list[tuple[datetime, int, Id, Id]] = []
    for message in messages:
        for key in carried_ids(message, identity):
            group[key] = frozenset([key])
            if key != message.primary:
                links.append((message.time, message.seq, message.primary, key))
    for _, _, a, b in sorted(links):
        if group[a] == group[b]:
            continue
        joined = group[a] | group[b]
        per_kind: dict[str, int] = {}
        for kind, _ in joined:
            per_kind[kind] = per_kind.get(kind, 0) + 1
        too_many = any(count > identity.limits[kind] for kind, count in per_kind.items() if kind in identity.limits)
        if too_many or len(joined) > identity.max_ids:
            continue
        for key in joined:
            group[key] = joined
    return group


def profile_id(members: frozenset[Id], first_seen: dict[Id, tuple[datetime, int]]) -> str:
    """Its userId; without one, its earliest-seen anonymousId (then any id)."""
    for pool in (
        [m for m in members if m[0] == "user_id"],
        [m for m in members if m[0] == "anonymous_id"],
        list(members),
    ):
        if pool:
            return min(pool, key=lambda m: (first_seen[m], m))[1]
    raise AssertionError("a profile has identifiers")


# ---- profiles ---------------------------------------------------------------


@dataclass
class Profile:
    id: str
    messages: list[Message] = field(default_factory=list)  # by (event time, seq)

    @property
    def tracks(self) -> list[Message]:
        return [m for m in self.messages if m.type == "track"]

    @property
    def traits(self) -> dict[str, Any]:
        """Latest identify value of each key; a null unsets it."""
        latest: dict[str, tuple[tuple[datetime, int], Any]] = {}
        for message in self.messages:
            if message.type != "identify" or not isinstance(message.traits, dict):
                continue
            for key, value in message.traits.items():
                if key not in latest or latest[key][0] < message.order:
                    latest[key] = (message.order, value)
        return {key: value for key, (_, value) in latest.items() if value is not None}


def profiles_at(rows: list[dict[str, Any]], identity: IdentityConfig, now: datetime) -> list[Profile]:
    """The profiles that exist at ``now``, with their messages up to ``now``."""
    messages = sorted((m for m in map(as_message, rows) if m.time <= now), key=lambda m: m.order)
    group = resolve(messages, identity)
    first_seen: dict[Id, tuple[datetime, int]] = {}
    for message in messages:
        for key in carried_ids(message, identity):
            if key not in first_seen or message.order < first_seen[key]:
                first_seen[key] = message.order
    profiles: dict[frozenset[Id], Profile] = {}
    for message in messages:
        members = group[message.primary]
        if members not in profiles:
            profiles[members] = Profile(profile_id(members, first_seen))
        profiles[members].messages.append(message)
    return list(profiles.values())


# ---- conditions -------------------------------------------------------------


def _meets(message: Message, match: EventMatch) -> bool:
    """Name and ``where`` filters (the window is the caller's business)."""
    if message.type != "track" or message.event != match.event:
        return False
    return all(satisfies_all(at_path(message.properties, f.path), f.comparisons) for f in match.where)


def _in_window(message: Message, match: EventMatch, now: datetime) -> bool:
    return match.within is None or now - match.within.delta < message.time <= now


def _aggregate(function: str, numbers: list[float]) -> float | None:
    """Over doubles; sums and averages are exact, rounded once: no summation order can change them."""
    if not numbers:
        return None
    if function in ("sum", "avg"):
        total = sum(Fraction(n) for n in numbers)
        exact = total if function == "sum" else total / len(numbers)
        try:
            return float(exact)
        except OverflowError:  # beyond the largest double: infinite, as IEEE addition would say
            return math.inf if exact > 0 else -math.inf
    if function == "min":
        return min(numbers)
    return max(numbers)


def _is_number(value: Any) -> bool:
    return _kind(value) == "number"


def _performed(profile: Profile, condition: Performed, now: datetime) -> bool:
    match = condition.match
    a_events = [m for m in profile.tracks if _meets(m, match) and _in_window(m, match, now)]
    sequence = condition.sequence
    if sequence is None:
        measure = condition.measure
        if isinstance(measure, AggregateMeasure):
            values = [at_path(m.properties, measure.property) for m in a_events]
            value = _aggregate(measure.function, [float(v) for v in values if _is_number(v)])
            return satisfies_all(value, measure.comparisons)
        return satisfies_all(len(a_events), measure.comparisons)

    gap = sequence.then.within
    candidates = [m for m in profile.tracks if _meets(m, sequence.then)]

    def follows(a: Message, b: Message) -> bool:
        if b.seq == a.seq or b.time < a.time or b.time > now:
            return False
        if gap is not None and b.time > a.time + gap.delta:
            return False
        return all(same_value(at_path(b.properties, p), at_path(a.properties, p)) for p in sequence.same)

    for a in a_events:
        if any(at_path(a.properties, p) is None for p in sequence.same):
            continue  # an A that lacks a `same` property is not a matching A
        if not sequence.negated:
            if any(follows(a, b) for b in candidates):
                return True
        else:
            assert gap is not None, "not_followed_by always has within"
            if a.time + gap.delta <= now and not any(follows(a, b) for b in candidates):
                return True
    return False


def holds(profile: Profile, condition: Condition, now: datetime, memberships: dict[str, set[str]]) -> bool:
    if isinstance(condition, All):
        return all(holds(profile, c, now, memberships) for c in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(holds(profile, c, now, memberships) for c in condition.conditions)
    if isinstance(condition, Not):
        return not holds(profile, condition.condition, now, memberships)
    if isinstance(condition, TraitCondition):
        return satisfies_all(profile.traits.get(condition.trait), condition.comparisons)
    if isinstance(condition, InSegment):
        return profile.id in memberships[condition.segment]
    if isinstance(condition, Performed):
        return _performed(profile, condition, now)
    raise AssertionError(f"unknown condition {condition!r}")


def reference_memberships(
    messages: list[dict[str, Any]], segments: LoadedSegments, identity: IdentityConfig, now: datetime
) -> Memberships:
    """Every usable segment's members at ``now``: {name: sorted profile ids}."""
    profiles = profiles_at(messages, identity, now)
    members: dict[str, set[str]] = {}
    for name, definition in segments.definitions.items():  # dependencies first
        members[name] = {p.id for p in profiles if holds(p, definition.condition, now, members)}
    return {name: sorted(ids) for name, ids in members.items()}
