"""From the ``segments`` section of the configuration to typed definitions.

Each segment is parsed on its own: a bad one is reported (segment, key,
what would be valid) and the others load. References between segments are
then checked: an unknown segment, or a cycle of ``in_segment`` references
(reported with every segment in it), makes the segments concerned
unusable, and so does depending on an unusable segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmint.segments.definition import (
    AGGREGATES,
    OPERATORS,
    AggregateMeasure,
    All,
    AnyOf,
    Comparison,
    Condition,
    CountMeasure,
    Duration,
    EventMatch,
    InSegment,
    Not,
    Performed,
    PropertyFilter,
    SegmentDefinition,
    Sequence,
    TraitCondition,
    referenced_segments,
    walk,
)

if TYPE_CHECKING:
    from segmint.traits.definition import TraitDefinition
    from segmint.traits.parse import LoadedTraits

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
KINDS = ("all", "any", "not", "trait", "performed", "in_segment")
_PERFORMED_KEYS = ("performed", "where", "within", "count", *AGGREGATES, "followed_by", "not_followed_by")
_SEQUENCE_KEYS = ("performed", "where", "within", "same")


@dataclass(frozen=True)
class SegmentError:
    segment: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"segment {self.segment!r}: {self.key}: {self.message}"


@dataclass
class LoadedSegments:
    """The usable definitions, in dependency order, and the errors of the rest."""

    definitions: dict[str, SegmentDefinition] = field(default_factory=dict)
    errors: list[SegmentError] = field(default_factory=list)
    source: Mapping[str, Any] = field(default_factory=dict)  # the YAML it came from
    trait_source: Mapping[str, Any] = field(default_factory=dict)  # and its `traits:` section
    # The usable computed traits (``traits:``): ``trait: NAME`` reads one when it is declared.
    computed: dict[str, TraitDefinition] = field(default_factory=dict)
    traits: LoadedTraits | None = None  # and the errors of the others

    @property
    def names(self) -> list[str]:
        return list(self.definitions)

    def errors_of(self, name: str) -> list[SegmentError]:
        return [e for e in self.errors if e.segment == name]


class _Invalid(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key, self.message = key, message


def load_segments(raw: Mapping[str, Any] | None, traits: Mapping[str, Any] | None = None) -> LoadedSegments:
    """Parse every segment, then check references and cycles.

    ``traits`` is the configuration's ``traits:`` section: with it, ``trait:
    NAME`` reads the computed trait ``NAME`` where one is declared (see
    docs/traits.md), and a segment reading a computed trait that has errors
    is unusable too.
    """
    loaded = LoadedSegments(source=dict(raw or {}), trait_source=dict(traits or {}))
    if traits:
        from segmint.traits.parse import load_traits

        loaded.traits = load_traits(traits, segment_names=(raw or {}).keys())
        loaded.computed = dict(loaded.traits.definitions)
    parsed: dict[str, SegmentDefinition] = {}
    for name, body in (raw or {}).items():
        if not isinstance(name, str) or not NAME.match(name):
            loaded.errors.append(SegmentError(str(name), "(name)", "a segment name is [a-z][a-z0-9_]*, e.g. big_spenders"))
            continue
        try:
            parsed[name] = parse_segment(name, body)
        except _Invalid as error:
            loaded.errors.append(SegmentError(name, error.key, error.message))
    broken = {e.segment for e in loaded.errors}
    for name, definition in parsed.items():
        for ref in sorted(referenced_segments(definition.condition)):
            if ref not in parsed and ref not in broken:
                loaded.errors.append(
                    SegmentError(name, "in_segment", f"no segment named {ref!r} (defined: {', '.join(sorted(parsed)) or 'none'})")
                )
    for name, cycle in _cycles(parsed).items():
        loaded.errors.append(
            SegmentError(name, "in_segment", "in_segment references form a cycle: " + " -> ".join([*cycle, cycle[0]]))
        )
    if loaded.traits is not None:
        for name, definition in parsed.items():
            bad = sorted(_read_traits(definition) & loaded.traits.broken)
            if bad:
                loaded.errors.append(SegmentError(name, "trait", f"reads computed trait {bad[0]!r}, which has errors"))
    # A segment that depends on an unusable one is unusable too.
    unusable = {e.segment for e in loaded.errors}
    changed = True
    while changed:
        changed = False
        for name, definition in parsed.items():
            if name in unusable:
                continue
            bad = sorted(referenced_segments(definition.condition) & unusable)
            if bad:
                loaded.errors.append(SegmentError(name, "in_segment", f"depends on segment {bad[0]!r}, which has errors"))
                unusable.add(name)
                changed = True
    for name in _dependency_order(parsed):
        if name not in unusable:
            loaded.definitions[name] = parsed[name]
    return loaded


def _read_traits(definition: SegmentDefinition) -> set[str]:
    return {c.trait for c in walk(definition.condition) if isinstance(c, TraitCondition)}


def parse_segment(name: str, body: Any) -> SegmentDefinition:
    if not isinstance(body, Mapping):
        raise _Invalid("(definition)", "a definition is a mapping with one condition, e.g. {performed: Order Completed}")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise _Invalid("description", "must be text")
    tags = body.get("tags", [])
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _Invalid("tags", "must be a list of text")
    rest = {k: v for k, v in body.items() if k not in ("description", "tags")}
    condition = parse_condition(rest, "")
    return SegmentDefinition(name, condition, description, tuple(tags))


def parse_condition(body: Any, at: str) -> Condition:
    if not isinstance(body, Mapping):
        raise _Invalid(at or "(definition)", f"a condition is a mapping with one of: {', '.join(KINDS)}")
    kinds = [k for k in KINDS if k in body]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        unknown = [k for k in body if k not in KINDS]
        hint = f" (unknown key{'s' if len(unknown) > 1 else ''}: {', '.join(map(str, unknown))})" if unknown and not kinds else ""
        raise _Invalid(at or "(definition)", f"a condition needs exactly one of {', '.join(KINDS)}; found {found}{hint}")
    kind = kinds[0]
    key = f"{at}.{kind}" if at else kind
    if kind in ("all", "any"):
        _only(body, {kind}, at)
        items = body[kind]
        if not isinstance(items, list):
            raise _Invalid(key, "must be a list of conditions")
        children = tuple(parse_condition(item, f"{key}[{i}]") for i, item in enumerate(items))
        return All(children) if kind == "all" else AnyOf(children)
    if kind == "not":
        _only(body, {"not"}, at)
        return Not(parse_condition(body["not"], key))
    if kind == "in_segment":
        _only(body, {"in_segment"}, at)
        ref = body["in_segment"]
        if not isinstance(ref, str) or not NAME.match(ref):
            raise _Invalid(key, "must name a segment")
        return InSegment(ref)
    if kind == "trait":
        trait = body["trait"]
        if not isinstance(trait, str) or not trait:
            raise _Invalid(key, "must name a trait")
        ops = {k: v for k, v in body.items() if k != "trait"}
        if not ops:
            raise _Invalid(key, f"a trait condition needs an operator: one of {', '.join(OPERATORS)}")
        return TraitCondition(trait, _comparisons(ops, at, allow_extra=False))
    return _performed(body, at)


def _performed(body: Mapping[str, Any], at: str) -> Performed:
    prefix = f"{at}." if at else ""
    unknown = [k for k in body if k not in _PERFORMED_KEYS]
    if unknown:
        raise _Invalid(f"{prefix}{unknown[0]}", f"unknown key in a performed condition; valid: {', '.join(_PERFORMED_KEYS)}")
    match = _event_match(body, prefix)
    aggregates = [a for a in AGGREGATES if a in body]
    sequences = [s for s in ("followed_by", "not_followed_by") if s in body]
    if len(aggregates) + ("count" in body) > 1:
        raise _Invalid(f"{prefix}{(aggregates + ['count'])[1]}", "use count or one aggregate (sum, avg, min, max), not several")
    if sequences and (aggregates or "count" in body):
        raise _Invalid(f"{prefix}{sequences[0]}", "count and aggregates cannot be combined with followed_by / not_followed_by")
    if len(sequences) > 1:
        raise _Invalid(f"{prefix}not_followed_by", "use followed_by or not_followed_by, not both")
    measure: CountMeasure | AggregateMeasure = CountMeasure()
    if "count" in body:
        spec = body["count"]
        if not isinstance(spec, Mapping) or not spec:
            raise _Invalid(f"{prefix}count", "write count as operators, e.g. count: {gte: 2}")
        comparisons = _comparisons(spec, f"{prefix}count", allow_extra=False)
        for c in comparisons:
            if c.op in ("contains", "exists"):
                raise _Invalid(f"{prefix}count.{c.op}", "a count compares with eq, ne, gt, gte, lt, lte, in, not_in or between")
        measure = CountMeasure(comparisons)
    elif aggregates:
        function = aggregates[0]
        spec = body[function]
        if not isinstance(spec, Mapping) or not isinstance(spec.get("property"), str):
            raise _Invalid(f"{prefix}{function}", f"write {{property: NAME, gte: N}}, e.g. {function}: {{property: total, gte: 500}}")
        ops = {k: v for k, v in spec.items() if k != "property"}
        if not ops:
            raise _Invalid(f"{prefix}{function}", f"{function} needs an operator: one of {', '.join(OPERATORS)}")
        measure = AggregateMeasure(function, _path(spec["property"]), _comparisons(ops, f"{prefix}{function}", allow_extra=False))  # type: ignore[arg-type]
    sequence = None
    if sequences:
        kind = sequences[0]
        spec = body[kind]
        key = f"{prefix}{kind}"
        if not isinstance(spec, Mapping):
            raise _Invalid(key, "write {performed: EVENT, within: DURATION}")
        unknown = [k for k in spec if k not in _SEQUENCE_KEYS]
        if unknown:
            raise _Invalid(f"{key}.{unknown[0]}", f"unknown key; valid: {', '.join(_SEQUENCE_KEYS)}")
        then = _event_match(spec, f"{key}.")
        if kind == "not_followed_by" and then.within is None:
            raise _Invalid(f"{key}.within", "not_followed_by needs within: the time B had to happen in (e.g. 30m)")
        same = spec.get("same", [])
        if isinstance(same, str):
            same = [same]
        if not isinstance(same, list) or not all(isinstance(s, str) and s for s in same):
            raise _Invalid(f"{key}.same", "must be a list of property names, e.g. [cart_id]")
        sequence = Sequence(kind == "not_followed_by", then, tuple(_path(s) for s in same))
    return Performed(match, measure, sequence)


def _event_match(body: Mapping[str, Any], prefix: str) -> EventMatch:
    event = body.get("performed")
    if not isinstance(event, str) or not event:
        raise _Invalid(f"{prefix}performed", "must be an event name, e.g. Order Completed")
    within = None
    if "within" in body:
        try:
            within = Duration.parse(body["within"])
        except ValueError as error:
            raise _Invalid(f"{prefix}within", str(error)) from None
        if within.seconds == 0:
            raise _Invalid(f"{prefix}within", "must be longer than zero")
    where: tuple[PropertyFilter, ...] = ()
    if "where" in body:
        spec = body["where"]
        if not isinstance(spec, Mapping):
            raise _Invalid(f"{prefix}where", "write property filters as a mapping, e.g. where: {category: outdoor}")
        filters = []
        for prop, test in spec.items():
            key = f"{prefix}where.{prop}"
            if not isinstance(prop, str) or not prop:
                raise _Invalid(key, "a property name is text; dots reach nested properties")
            if isinstance(test, Mapping):
                if not test:
                    raise _Invalid(key, "give at least one operator")
                comparisons = _comparisons(test, key, allow_extra=False)
            else:
                comparisons = (_comparison("eq", test, key),)
            filters.append(PropertyFilter(_path(prop), comparisons))
        where = tuple(filters)
    return EventMatch(event, where, within)


def _comparisons(spec: Mapping[str, Any], at: str, allow_extra: bool) -> tuple[Comparison, ...]:
    out = []
    for op, value in spec.items():
        if op not in OPERATORS:
            raise _Invalid(f"{at}.{op}" if at else str(op), f"unknown operator; valid: {', '.join(OPERATORS)}")
        out.append(_comparison(op, value, f"{at}.{op}" if at else op))
    return tuple(out)


def _comparison(op: str, value: Any, key: str) -> Comparison:
    scalar = (str, int, float, bool)
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not all(v is None or isinstance(v, scalar) for v in value):
            raise _Invalid(key, f"{op} takes a list of values, e.g. {op}: [a, b]")
        return Comparison(op, tuple(value))  # type: ignore[arg-type]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, scalar) and not isinstance(v, bool) for v in value):
            raise _Invalid(key, "between takes [low, high], e.g. between: [25, 34]")
        return Comparison("between", tuple(value))
    if op == "exists":
        if not isinstance(value, bool):
            raise _Invalid(key, "exists takes true or false")
        return Comparison("exists", value)
    if op in ("gt", "gte", "lt", "lte"):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _Invalid(key, f"{op} compares with a number or a text, not {type(value).__name__}")
        return Comparison(op, value)  # type: ignore[arg-type]
    if value is not None and not isinstance(value, scalar):
        raise _Invalid(key, f"{op} compares with a single value (text, number or true/false)")
    return Comparison(op, value)  # type: ignore[arg-type]


def _only(body: Mapping[str, Any], allowed: set[str], at: str) -> None:
    extra = [k for k in body if k not in allowed]
    if extra:
        where = ", ".join(sorted(allowed))
        hint = "; next to a segment's condition only description and tags may stand" if not at else ""
        raise _Invalid(f"{at}.{extra[0]}" if at else str(extra[0]), f"unexpected key next to {where}{hint}")


def _path(text: str) -> tuple[str, ...]:
    return tuple(text.split("."))


def _cycles(parsed: Mapping[str, SegmentDefinition]) -> dict[str, list[str]]:
    """For each segment on an in_segment cycle, a shortest cycle through it."""
    graph = {n: sorted(r for r in referenced_segments(d.condition) if r in parsed) for n, d in parsed.items()}
    found: dict[str, list[str]] = {}
    for start in sorted(graph):
        # Breadth-first from the segment's references back to itself.
        paths = {ref: [start, ref] for ref in graph[start]}
        queue = list(graph[start])
        while queue and start not in found:
            node = queue.pop(0)
            if node == start:
                found[start] = paths[node][:-1]
                break
            for nxt in graph[node]:
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    queue.append(nxt)
    return found


def _dependency_order(parsed: Mapping[str, SegmentDefinition]) -> list[str]:
    order: list[str] = []
    done: set[str] = set()

    def place(node: str, trail: frozenset[str]) -> None:
        if node in done or node in trail:
            return
        for ref in sorted(referenced_segments(parsed[node].condition)):
            if ref in parsed:
                place(ref, trail | {node})
        done.add(node)
        order.append(node)

    for node in parsed:
        place(node, frozenset())
    return order
