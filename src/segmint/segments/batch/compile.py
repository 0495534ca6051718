"""Segment definitions to one SQL query, built as a sqlglot tree.

The query reads the prepared relations of ``inputs.py`` (``seg_events``,
``seg_traits``) and returns one row per profile: ``pid`` and one boolean
column per segment. Its shape, whatever the number of segments:

- ``agg``: one pass over ``seg_events`` grouped by identifier, every
  ``count`` and aggregate condition a conditional aggregate (``FILTER``),
  then the identifiers' partial aggregates joined to ``profile_ids`` and
  combined per profile; it has a row for every profile with a message, so
  it is also the list of profiles;
- ``seq_<n>``: per distinct ``same`` list, one window pass over the A and B
  events of the sequence conditions that share it: for each A, the number
  of B events (other than A) in ``[A.t, A.t + D]`` of the same profile and
  the same ``same`` values (the window's partition);
- traits joined from ``seg_traits``;
- the segments as boolean expressions, one nested SELECT per level of
  ``in_segment`` depth, so that a segment reads the columns of the ones it
  references.

Every condition compiles to an expression that is TRUE or FALSE, never
NULL, following ``values.py`` exactly (``compare.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from segmint.segments.batch.compare import TRUE, Value, all_of, any_of, compare_all, definitely, negate
from segmint.segments.batch.inputs import micros, primary_join
from segmint.segments.batch.needs import Needs, needs_of
from segmint.segments.definition import (
    AggregateMeasure,
    All,
    AnyOf,
    Condition,
    CountMeasure,
    EventMatch,
    InSegment,
    Not,
    Performed,
    SegmentDefinition,
    TraitCondition,
    referenced_segments,
)

if TYPE_CHECKING:
    from segmint.traits.definition import TraitDefinition

# ---- the query ---------------------------------------------------------------


class FloatSum(exp.Expression, exp.AggFunc):
    """The sum of a property's numbers, as exact as the engine can make it.

    The spec's sums do not depend on the order of their terms; each engine
    prints this node its own way (``Dialect.float_sum``) before running.
    """


@dataclass(frozen=True)
class Relations:
    """Names of the prepared relations the query reads."""

    events: str = "seg_events"
    traits: str = "seg_traits"
    profile_ids: str = "profile_ids"


@dataclass(frozen=True)
class CompiledSegments:
    """The query and, per segment, the name of its output column."""

    query: exp.Select
    columns: dict[str, str]
    needs: Needs
    relations: Relations

    def sql(self, dialect: str) -> str:
        return self.query.sql(dialect=dialect)


def instant(micros: int) -> exp.Expr:
    """A timestamp literal (UTC), comparable with ``event_time`` on every engine."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    return exp.cast(exp.Literal.string(moment.isoformat()), exp.DataType.build("TIMESTAMPTZ"))


def _scalar(value: Value) -> exp.Expr:
    """The value is a number, a text or a boolean: one that can equal another."""
    return any_of(f.is_(exp.null()).not_() for f in (value.num, value.text, value.flag) if f is not None)


class _Compiler:
    def __init__(
        self, definitions: Sequence[SegmentDefinition], now_us: int, needs: Needs, relations: Relations
    ) -> None:
        self.now_us = now_us
        self.needs = needs
        self.relations = relations
        self.definitions = definitions
        self.aggregates: dict[tuple[Any, ...], exp.Column] = {}
        self.partials: list[exp.Expr] = []  # per identifier
        self.combined: list[exp.Expr] = []  # per profile, from the partials
        # same paths -> [(name, sequence condition)]
        self.sequences: dict[tuple[tuple[str, ...], ...], list[tuple[str, Performed]]] = {}
        self.hits: dict[Performed, str] = {}

    # -- per event

    def event_value(self, path: tuple[str, ...]) -> Value:
        return Value.columns(self.needs.properties[path])

    def after(self, micros_ago: int) -> exp.Expr:
        """The event is later than ``micros_ago`` before now (compared as timestamps: plain columns filter fastest)."""
        return exp.GT(this=exp.column("event_time"), expression=instant(self.now_us - micros_ago))

    def matches(self, match: EventMatch, *, windowed: bool = True) -> exp.Expr:
        parts: list[exp.Expr] = [exp.EQ(this=exp.column("event"), expression=exp.Literal.string(match.event))]
        for where in match.where:
            parts.append(compare_all(self.event_value(where.path), where.comparisons))
        if windowed and match.within is not None:
            parts.append(self.after(match.within.micros))
        return all_of(parts)

    # -- conditions

    def aggregate(self, key: tuple[Any, ...], function: str, number: exp.Expr | None, where: exp.Expr) -> exp.Column:
        """A per-profile aggregate of the matching events, computed per identifier first."""
        if key in self.aggregates:
            return self.aggregates[key]
        name = f"a{len(self.aggregates)}"
        self.aggregates[key] = exp.column(name)

        def partial(suffix: str, aggregate: exp.Expr) -> exp.Column:
            self.partials.append(
                exp.alias_(exp.Filter(this=aggregate, expression=exp.Where(this=where.copy())), name + suffix)
            )
            return exp.column(name + suffix)

        if function == "avg":
            assert number is not None
            total = FloatSum(this=partial("_s", FloatSum(this=number)))
            count = exp.Sum(this=partial("_n", exp.Count(this=number.copy())))
            value: exp.Expr = exp.Case().when(
                exp.GT(this=count, expression=exp.Literal.number(0)), exp.Div(this=total, expression=count.copy())
            )
        elif function == "count":
            value = exp.Sum(this=partial("_p", exp.Count(this=exp.Star())))
        else:
            outer = {"sum": FloatSum, "min": exp.Min, "max": exp.Max}[function]
            value = outer(this=partial("_p", outer(this=number)))
        self.combined.append(exp.alias_(value, name))
        return self.aggregates[key]

    def performed(self, condition: Performed) -> exp.Expr:
        if condition.sequence is not None:
            if condition not in self.hits:
                name = self.hits[condition] = f"h{len(self.hits)}"
                self.sequences.setdefault(condition.sequence.same, []).append((name, condition))
            return exp.column(self.hits[condition])
        where = self.matches(condition.match)
        measure = condition.measure
        if isinstance(measure, CountMeasure):
            count = self.aggregate(("count", condition.match), "count", None, where)
            return compare_all(Value(num=count), measure.comparisons)
        assert isinstance(measure, AggregateMeasure)
        number = self.event_value(measure.property).num
        column = self.aggregate((measure.function, condition.match, measure.property), measure.function, number, where)
        return compare_all(Value(present=column.is_(exp.null()).not_(), num=column), measure.comparisons)

    def condition(self, condition: Condition, segments: Mapping[str, str]) -> exp.Expr:
        if isinstance(condition, All):
            return all_of(self.condition(c, segments) for c in condition.conditions)
        if isinstance(condition, AnyOf):
            return any_of(self.condition(c, segments) for c in condition.conditions)
        if isinstance(condition, Not):
            return negate(self.condition(condition.condition, segments))
        if isinstance(condition, TraitCondition):
            computed = self.needs.computed.get(condition.trait)
            if computed is not None:  # a computed trait (traits/batch.py): a scalar, never a list
                need = computed[1]
                value = Value(*(exp.column(need.column(f)) for f in ("present", "num", "str", "bool")))
                return compare_all(value, condition.comparisons)
            return compare_all(Value.columns(self.needs.traits[condition.trait]), condition.comparisons)
        if isinstance(condition, InSegment):
            return exp.column(segments[condition.segment])
        if isinstance(condition, Performed):
            return self.performed(condition)
        raise TypeError(f"not a condition: {condition!r}")

    # -- relations

    def profile_join(self, table: str) -> tuple[exp.Expr, exp.Expr]:
        """``profile_ids`` and the condition joining it to ``table``'s primary identifier."""
        return primary_join(self.relations.profile_ids, table)

    def aggregation(self) -> exp.Select:
        """One pass over the events per identifier, then per profile (far fewer rows to join)."""
        per_id = (
            exp.select("user_id", "anonymous_id", *self.partials)
            .from_(self.relations.events)
            .group_by("user_id", "anonymous_id")
        )
        ids, on = self.profile_join("x")
        return (
            exp.select(exp.alias_(exp.column("profile_id", "i"), "pid"), *self.combined)
            .from_(per_id.subquery("x"))
            .join(ids, on=on)
            .group_by(exp.column("profile_id", "i"))
        )

    def sequence_pass(self, same: tuple[tuple[str, ...], ...], members: list[tuple[str, Performed]]) -> exp.Select:
        """Per profile, whether each sequence condition that shares ``same`` holds."""
        prefilter: list[exp.Expr] = []
        flags: list[exp.Expr] = []
        for name, condition in members:
            sequence = condition.sequence
            assert sequence is not None
            first: list[exp.Expr] = [self.matches(condition.match)]
            first += [self.event_value(p).present or TRUE for p in same]
            if sequence.negated:
                assert sequence.then.within is not None
                first.append(negate(self.after(sequence.then.within.micros)))  # the deadline has passed
            then = [self.matches(sequence.then, windowed=False)] + [_scalar(self.event_value(p)) for p in same]
            # Only events of A's and B's names, and when A has a window, only
            # events inside it (B.t >= A.t > now - within): on plain columns,
            # so that engines filter before reading any JSON.
            candidates: list[exp.Expr] = [
                exp.In(
                    this=exp.column("event"),
                    expressions=[exp.Literal.string(e) for e in sorted({condition.match.event, sequence.then.event})],
                )
            ]
            if condition.match.within is not None:
                candidates.append(self.after(condition.match.within.micros))
                then.append(self.after(condition.match.within.micros))
            prefilter.append(all_of(candidates))
            flags += [exp.alias_(all_of(first), f"{name}_a"), exp.alias_(all_of(then), f"{name}_b")]
        same_columns = [c for p in same for c in self._same_columns(p)]
        flagged = (
            exp.select("user_id", "anonymous_id", "t", *same_columns, *flags)
            .from_(self.relations.events)
            .where(any_of(prefilter))
        )
        ids, on = self.profile_join("f")
        relevant = any_of(exp.column(f"{n}_{side}") for n, _ in members for side in "ab")
        rows = (
            exp.select(
                exp.alias_(exp.column("profile_id", "i"), "pid"),
                "t",
                *same_columns,
                *[exp.column(f"{n}_{side}") for n, _ in members for side in "ab"],
            )
            .from_(flagged.subquery("f"))
            .join(ids, on=on)
            .where(relevant)
        )
        partition = [exp.column("pid")] + [exp.column(c) for p in same for c in self._same_columns(p)[1:]]
        hits = []
        for name, condition in members:
            sequence = condition.sequence
            assert sequence is not None
            is_b = exp.Case().when(exp.column(f"{name}_b"), exp.Literal.number(1)).else_(exp.Literal.number(0))
            end = "UNBOUNDED" if sequence.then.within is None else exp.Literal.number(sequence.then.within.micros)
            later = exp.Window(
                this=exp.Sum(this=is_b),
                partition_by=partition,
                order=exp.Order(expressions=[exp.Ordered(this=exp.column("t"), nulls_first=False)]),
                spec=exp.WindowSpec(kind="RANGE", start="CURRENT ROW", end=end, end_side="FOLLOWING"),
            )
            others = exp.Sub(this=later, expression=is_b.copy())
            found = (exp.EQ if sequence.negated else exp.GT)(this=others, expression=exp.Literal.number(0))
            hits.append(exp.alias_(all_of([exp.column(f"{name}_a"), found]), name))
        per_event = exp.select("pid", *hits).from_(rows.subquery("r"))
        return (
            exp.select("pid", *[exp.alias_(exp.LogicalOr(this=exp.column(n)), n) for n, _ in members])
            .from_(per_event.subquery("w"))
            .group_by("pid")
        )

    def _same_columns(self, path: tuple[str, ...]) -> list[str]:
        need = self.needs.properties[path]
        return [need.column("present"), need.column("num"), need.column("str"), need.column("bool")]

    def query(self) -> tuple[exp.Select, dict[str, str]]:
        columns = {d.name: f"s{i}" for i, d in enumerate(self.definitions)}
        levels = _levels(self.definitions)
        expressions = {d.name: self.condition(d.condition, columns) for d in self.definitions}
        # Every profile has a row in agg: it groups all messages.
        base = exp.select("agg.*").from_(self.aggregation().subquery("agg"))
        if self.needs.traits:
            # A profile without identify traits has no row there: its traits are missing.
            trait_columns = [
                exp.alias_(definitely(exp.column(c, table="tr")), c)
                if c.endswith("_present")
                else exp.column(c, table="tr")
                for n in self.needs.traits.values()
                for c in n.columns()
            ]
            base = base.select(*trait_columns).join(
                exp.to_table(self.relations.traits).as_("tr"),
                on=exp.EQ(this=exp.column("pid", "agg"), expression=exp.column("pid", "tr")),
                join_type="LEFT",
            )
        if self.needs.computed:
            from segmint.traits.batch import computed_relation

            # Every profile has a row there too; the join only guards the facets' NULLs.
            facets = [need.column(f) for _, need in self.needs.computed.values() for f in ("present", "num", "str", "bool")]
            base = base.select(
                *[exp.alias_(definitely(exp.column(c, table="ct")), c) if c.endswith("_present") else exp.column(c, table="ct")
                  for c in facets]
            ).join(
                computed_relation(self.needs, self.now_us, self.relations).subquery("ct"),
                on=exp.EQ(this=exp.column("pid", "agg"), expression=exp.column("pid", "ct")),
                join_type="LEFT",
            )
        for i, (same, members) in enumerate(self.sequences.items()):
            alias = f"sq{i}"
            base = base.select(*[exp.alias_(definitely(exp.column(n, table=alias)), n) for n, _ in members]).join(
                self.sequence_pass(same, members).subquery(alias),
                on=exp.EQ(this=exp.column("pid", "agg"), expression=exp.column("pid", alias)),
                join_type="LEFT",
            )
        relation = base
        for level in range(max(levels.values(), default=-1) + 1):
            names = [d.name for d in self.definitions if levels[d.name] == level]
            relation = exp.select("*", *[exp.alias_(expressions[n], columns[n]) for n in names]).from_(
                relation.subquery(f"l{level}")
            )
        final = exp.select("pid", *[exp.column(columns[d.name]) for d in self.definitions]).from_(
            relation.subquery("segments")
        )
        return final, columns


def _levels(definitions: Sequence[SegmentDefinition]) -> dict[str, int]:
    """0 for a segment that references none, else one more than its deepest reference."""
    levels: dict[str, int] = {}
    for definition in definitions:  # dependency order: references come first
        refs = referenced_segments(definition.condition)
        levels[definition.name] = 1 + max((levels[r] for r in refs), default=-1)
    return levels


def compile_segments(
    definitions: Sequence[SegmentDefinition],
    as_of: datetime,
    relations: Relations = Relations(),
    computed: Mapping[str, TraitDefinition] | None = None,
) -> CompiledSegments:
    """The query computing every segment of ``definitions`` at ``as_of``.

    ``definitions`` must be in dependency order (``LoadedSegments.definitions``
    is) and every ``in_segment`` must name one of them. ``trait: NAME``
    reads the computed trait of ``computed`` so named, if any.
    """
    needs = needs_of(definitions, computed)
    compiler = _Compiler(definitions, micros(as_of), needs, relations)
    query, columns = compiler.query()
    return CompiledSegments(query, columns, needs, relations)
