"""From the ``traits`` section of the configuration to typed definitions.

Each trait is parsed on its own, like a segment: a bad one is reported
(trait, key, what would be valid) and the others load. ``where`` and
``within`` are the segment language's (``segments/parse.py`` parses them),
so a filter means the same in a trait as in a segment.

    >>> loaded = load_traits({"orders_90d": {"count": "Order Completed", "within": "90d"}})
    >>> loaded.definitions["orders_90d"].kind, loaded.definitions["orders_90d"].match.within.text
    ('count', '90d')
    >>> load_traits({"spend": {"sum": "total"}}).errors[0].message
    'sum needs `of: EVENT`, the event whose property it reads (e.g. of: Order Completed)'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from segmint.segments.definition import Duration, EventMatch
from segmint.segments.parse import NAME, _event_match, _Invalid, _path
from segmint.traits.definition import (
    EVENT_KINDS,
    KINDS,
    NUMBER_KINDS,
    SERIES_KINDS,
    VALUE_KINDS,
    TraitDefinition,
)

_COMMON = ("where", "description")


@dataclass(frozen=True)
class TraitError:
    trait: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"trait {self.trait!r}: {self.key}: {self.message}"


@dataclass
class LoadedTraits:
    """The usable computed traits and the errors of the rest."""

    definitions: dict[str, TraitDefinition] = field(default_factory=dict)
    errors: list[TraitError] = field(default_factory=list)

    @property
    def broken(self) -> set[str]:
        return {e.trait for e in self.errors}


def load_traits(raw: Mapping[str, Any] | None, segment_names: Iterable[str] = ()) -> LoadedTraits:
    """Parse every computed trait; a name that is also a segment's is an error."""
    loaded = LoadedTraits()
    segments = set(segment_names)
    for name, body in (raw or {}).items():
        if not isinstance(name, str) or not NAME.match(name):
            loaded.errors.append(TraitError(str(name), "(name)", "a trait name is [a-z][a-z0-9_]*, e.g. orders_90d"))
            continue
        if name in segments:
            loaded.errors.append(TraitError(name, "(name)", "a segment has this name too; rename the trait or the segment"))
            continue
        try:
            loaded.definitions[name] = parse_trait(name, body)
        except _Invalid as error:
            loaded.errors.append(TraitError(name, error.key, error.message))
    return loaded


def parse_trait(name: str, body: Any) -> TraitDefinition:
    if not isinstance(body, Mapping):
        raise _Invalid("(definition)", "a trait is a mapping, e.g. {count: Order Completed, within: 90d}")
    kinds = [k for k in KINDS if k in body]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise _Invalid("(definition)", f"a trait needs exactly one of {', '.join(KINDS)}; found {found}")
    kind = kinds[0]
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise _Invalid("description", "must be text")
    if kind in EVENT_KINDS:
        _only(body, kind, ("within",))
        event = body[kind]
        if not isinstance(event, str) or not event:
            raise _Invalid(kind, f"must be an event name, e.g. {kind}: Order Completed")
        return TraitDefinition(name, kind, _match(body, event, "within" in body), description=description)
    if kind in NUMBER_KINDS or kind in VALUE_KINDS:
        _only(body, kind, ("of", "within"))
        prop = body[kind]
        if not isinstance(prop, str) or not prop:
            raise _Invalid(kind, f"must name an event property, e.g. {kind}: total")
        match = _match(body, _of(body, kind), "within" in body)
        return TraitDefinition(name, kind, match, path=_path(prop), description=description)
    assert kind in SERIES_KINDS
    extra = ("of", "property", "period") if kind == "trend" else ("of", "property", "within", "per")
    _only(body, kind, extra)
    measure = body[kind]
    if measure not in ("count", "sum"):
        raise _Invalid(kind, f"{kind} is of a count or a sum: {kind}: count, or {kind}: sum with property: NAME")
    prop = body.get("property")
    if measure == "sum" and (not isinstance(prop, str) or not prop):
        raise _Invalid("property", f"{kind}: sum needs property: NAME, the number it adds up (e.g. property: total)")
    if measure == "count" and prop is not None:
        raise _Invalid("property", f"{kind}: count counts events; use {kind}: sum to add up a property")
    path = _path(prop) if measure == "sum" else None
    if kind == "trend":
        period = _duration(body, "period", "trend needs period: the span compared with the one before it (e.g. 30d)")
        match = _match(body, _of(body, kind), False)
        return TraitDefinition(name, kind, match, path, measure, period=period, description=description)
    if "within" not in body:
        raise _Invalid("within", "rolling_avg needs within: the window it averages over (e.g. within: 30d)")
    per = _duration(body, "per", "") if "per" in body else Duration.parse("1d")
    match = _match(body, _of(body, kind), True)
    assert match.within is not None
    if per.seconds > match.within.seconds:
        raise _Invalid("per", f"per ({per.text}) must not be longer than within ({match.within.text})")
    return TraitDefinition(name, kind, match, path, measure, per=per, description=description)


def _only(body: Mapping[str, Any], kind: str, allowed: tuple[str, ...]) -> None:
    valid = (kind, *allowed, *_COMMON)
    for key in body:
        if key not in valid:
            raise _Invalid(str(key), f"unknown key for a {kind} trait; valid: {', '.join(valid)}")


def _of(body: Mapping[str, Any], kind: str) -> str:
    event = body.get("of")
    if "of" not in body:
        raise _Invalid("of", f"{kind} needs `of: EVENT`, the event whose property it reads (e.g. of: Order Completed)")
    if not isinstance(event, str) or not event:
        raise _Invalid("of", "must be an event name, e.g. of: Order Completed")
    return event


def _match(body: Mapping[str, Any], event: str, windowed: bool) -> EventMatch:
    """``where`` and ``within`` exactly as in a segment's ``performed``."""
    spec: dict[str, Any] = {"performed": event}
    for key in ("where", "within") if windowed else ("where",):
        if key in body:
            spec[key] = body[key]
    return _event_match(spec, "")


def _duration(body: Mapping[str, Any], key: str, missing: str) -> Duration:
    if key not in body:
        raise _Invalid(key, missing)
    try:
        duration = Duration.parse(body[key])
    except ValueError as error:
        raise _Invalid(key, str(error)) from None
    if duration.seconds == 0:
        raise _Invalid(key, "must be longer than zero")
    return duration
