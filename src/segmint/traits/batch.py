"""Computed traits in batch: one sqlglot query over the segments' typed inputs.

The query reads ``seg_events`` (``segments/batch/inputs.py``: the messages up
to the instant, with every property the traits read already typed) and
``profile_ids``, and returns one row per profile with a message: ``pid``
and, per trait, the facets of its value (``present``, ``num``, ``str``,
``bool``, as ``segments/batch/needs.py`` defines them). Shape:

- one pass over the events joined to their profiles, grouped by profile,
  every trait a few conditional aggregates (``FILTER``);
- per ``most_frequent`` trait, a pass grouped by profile and value (its
  count and latest occurrence), then the best value per profile.

The segment compiler joins this relation when a segment reads ``trait:
NAME`` of a computed trait; :func:`compute_traits` runs it on its own and
returns a pandas table. The same tree runs on DuckDB and Spark.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from segmint.config.model import IdentityConfig
from segmint.segments.batch.compare import Value, all_of, any_of, compare_all, literal
from segmint.segments.batch.compile import FloatSum, Relations
from segmint.segments.batch.dialects import Dialect, DuckDB
from segmint.segments.batch.inputs import micros, prepared_events, primary_join, profile_ids
from segmint.segments.batch.needs import Needs, ValueNeed
from segmint.segments.definition import EventMatch
from segmint.traits.definition import DAY_MICROS, TraitDefinition

_names = itertools.count()
Facets = dict[str, exp.Expr]  # present, num, str, bool


def _number(value: int | float) -> exp.Expr:
    return literal(value)


def _filter(aggregate: exp.Expr, where: exp.Expr) -> exp.Expr:
    return exp.Filter(this=aggregate, expression=exp.Where(this=where))


def _struct(**fields: exp.Expr) -> exp.Struct:
    return exp.Struct(
        expressions=[exp.PropertyEQ(this=exp.to_identifier(k), expression=v) for k, v in fields.items()]
    )


def _field(column: str, name: str) -> exp.Expr:
    return exp.Dot(this=exp.column(column), expression=exp.to_identifier(name))


def _double(value: exp.Expr) -> exp.Expr:
    return exp.cast(value, "DOUBLE")


class _TraitCompiler:
    def __init__(self, needs: Needs, now_us: int, relations: Relations) -> None:
        self.needs, self.now_us, self.relations = needs, now_us, relations
        self.aggregates: list[exp.Expr] = []
        self.facets: list[exp.Expr] = []
        self.joins: list[tuple[str, exp.Select]] = []

    def events(self) -> exp.Select:
        """Every message up to the instant with the id of its profile (``pid``)."""
        ids, on = primary_join(self.relations.profile_ids, "e")
        return (
            exp.select(exp.alias_(exp.column("profile_id", "i"), "pid"), exp.Column(this=exp.Star(), table=exp.to_identifier("e")))
            .from_(exp.to_table(self.relations.events).as_("e"))
            .join(ids, on=on)
        )

    def value(self, path: tuple[str, ...]) -> Value:
        return Value.columns(self.needs.properties[path])

    def matches(self, match: EventMatch, within: int | None = None) -> exp.Expr:
        """The event's name and ``where`` filters, and ``t`` in (now - within, now]."""
        parts: list[exp.Expr] = [exp.EQ(this=exp.column("event"), expression=exp.Literal.string(match.event))]
        parts += [compare_all(self.value(f.path), f.comparisons) for f in match.where]
        if within:
            parts.append(self.after(within))
        return all_of(parts)

    def after(self, micros_ago: int) -> exp.Expr:
        return exp.GT(this=exp.column("t"), expression=_number(self.now_us - micros_ago))

    def aggregate(self, name: str, expression: exp.Expr) -> exp.Expr:
        self.aggregates.append(exp.alias_(expression, name))
        return exp.column(name)

    def trait(self, definition: TraitDefinition, need: ValueNeed) -> Facets:
        kind, prefix = definition.kind, need.prefix
        within = definition.match.within.micros if definition.match.within else None
        where = self.matches(definition.match, within)
        value = self.value(definition.path) if definition.path is not None else None
        if kind == "count":
            count = self.aggregate(f"{prefix}_a", _filter(exp.Count(this=exp.Star()), where))
            return {"present": exp.true(), "num": _double(count)}
        if kind == "days_since":
            last = self.aggregate(f"{prefix}_a", _filter(exp.Max(this=exp.column("t")), where))
            days = exp.IntDiv(this=exp.Paren(this=exp.Sub(this=_number(self.now_us), expression=last)), expression=_number(DAY_MICROS))
            return {"present": last.is_(exp.null()).not_(), "num": _double(days)}
        assert value is not None or kind in ("trend", "rolling_avg")
        if kind in ("sum", "avg", "min", "max"):
            assert value is not None and value.num is not None
            numbers = all_of([where, value.num.is_(exp.null()).not_()])
            function = {"sum": FloatSum, "avg": FloatSum, "min": exp.Min, "max": exp.Max}[kind]
            result = self.aggregate(f"{prefix}_a", _filter(function(this=value.num), numbers))
            if kind == "avg":
                count = self.aggregate(f"{prefix}_b", _filter(exp.Count(this=value.num.copy()), numbers.copy()))
                result = exp.Case().when(exp.GT(this=count, expression=_number(0)), exp.Div(this=result, expression=count.copy()))
            return {"present": result.is_(exp.null()).not_(), "num": result}
        if kind in ("first", "last", "distinct_count", "most_frequent"):
            assert value is not None
            facets = {"n": value.num, "s": value.text, "b": value.flag}
            scalar = any_of(f.is_(exp.null()).not_() for f in facets.values() if f is not None)
            if kind == "distinct_count":
                counts = [
                    exp.Count(this=exp.Distinct(expressions=[exp.Case().when(where.copy(), f.copy())]))
                    for f in facets.values() if f is not None
                ]
                total = self.aggregate(f"{prefix}_a", functools.reduce(lambda a, b: exp.Add(this=a, expression=b), counts))
                return {"present": exp.true(), "num": _double(total)}
            if kind == "most_frequent":
                return self.most_frequent(prefix, all_of([where, scalar]), facets)
            order = _struct(t=exp.column("t"), s=exp.column("seq"))
            pick = exp.ArgMin if kind == "first" else exp.ArgMax
            column = f"{prefix}_a"
            self.aggregate(column, _filter(pick(this=_struct(**facets), expression=order), all_of([where, scalar])))
            return self.scalar_facets(column)
        # trend and rolling_avg: a count or a sum per span, an empty span counting 0
        def span(name: str, condition: exp.Expr) -> exp.Expr:
            if definition.measure == "count":
                found = _filter(exp.Count(this=exp.Star()), condition)
            else:
                assert value is not None and value.num is not None
                numbers = all_of([condition, value.num.is_(exp.null()).not_()])
                found = _filter(FloatSum(this=value.num.copy()), numbers)
            return _double(exp.func("COALESCE", self.aggregate(name, found), _number(0)))

        if kind == "trend":
            assert definition.period is not None
            period = definition.period.micros
            current = span(f"{prefix}_a", self.matches(definition.match, period))
            earlier = all_of([self.matches(definition.match, 2 * period), exp.Not(this=self.after(period))])
            previous = span(f"{prefix}_b", earlier)
            return {"present": exp.true(), "num": exp.Sub(this=current, expression=previous)}
        assert kind == "rolling_avg"
        total = span(f"{prefix}_a", where)
        return {"present": exp.true(), "num": exp.Div(this=total, expression=_number(definition.buckets))}

    def scalar_facets(self, column: str) -> Facets:
        return {
            "present": exp.column(column).is_(exp.null()).not_(),
            "num": _field(column, "n"),
            "str": _field(column, "s"),
            "bool": _field(column, "b"),
        }

    def most_frequent(self, prefix: str, where: exp.Expr, facets: dict[str, exp.Expr | None]) -> Facets:
        """Per profile and value: its count and latest occurrence; the best value wins."""
        keys = {k: (f if f is not None else exp.null()) for k, f in facets.items()}
        per_value = (
            exp.select(
                "pid",
                *[exp.alias_(f.copy(), k) for k, f in keys.items()],
                exp.alias_(exp.Count(this=exp.Star()), "k"),
                exp.alias_(exp.Max(this=_struct(t=exp.column("t"), s=exp.column("seq"))), "o"),
            )
            .from_(self.events().subquery("v"))
            .where(where)
            .group_by("pid", *[f.copy() for f in keys.values()])
        )
        column = f"{prefix}_a"
        best = (
            exp.select(
                "pid",
                exp.alias_(
                    exp.ArgMax(this=_struct(**{k: exp.column(k) for k in keys}), expression=_struct(k=exp.column("k"), o=exp.column("o"))),
                    column,
                ),
            )
            .from_(per_value.subquery("w"))
            .group_by("pid")
        )
        self.joins.append((f"{prefix}_j", best))
        return self.scalar_facets(column)

    def query(self) -> exp.Select:
        outputs: list[exp.Expr] = []
        for definition, need in self.needs.computed.values():
            facets = self.trait(definition, need)
            for facet, kind in (("present", None), ("num", "DOUBLE"), ("str", "VARCHAR"), ("bool", "BOOLEAN")):
                found = facets.get(facet)
                if found is None:
                    found = exp.cast(exp.null(), kind) if kind else exp.true()
                outputs.append(exp.alias_(found, need.column(facet)))
        grouped = exp.select("pid", *self.aggregates).from_(self.events().subquery("v")).group_by("pid")
        query = exp.select(exp.alias_(exp.column("pid", "g"), "pid")).from_(grouped.subquery("g"))
        for alias, relation in self.joins:
            query = query.join(
                relation.subquery(alias),
                on=exp.EQ(this=exp.column("pid", "g"), expression=exp.column("pid", alias)),
                join_type="LEFT",
            )
        # The facets read the aggregates by name: one more level so names resolve plainly.
        inner = query.select(
            *[exp.column(a.alias, "g") for a in self.aggregates],
            *[exp.column(f"{alias[:-2]}_a", alias) for alias, _ in self.joins],
        )
        return exp.select("pid", *outputs).from_(inner.subquery("ct0"))


def computed_relation(needs: Needs, now_us: int, relations: Relations = Relations()) -> exp.Select:
    """``pid`` and the facets of every computed trait in ``needs.computed``, at ``now_us``."""
    return _TraitCompiler(needs, now_us, relations).query()


def traits_query(definitions: Iterable[TraitDefinition], dialect: Dialect, as_of: datetime, events: str,
                 relations: Relations) -> tuple[exp.Select, Needs]:
    """The whole query for ``definitions``, inputs prepared in ``dialect`` included."""
    from segmint.segments.batch.run import _float_sums

    needs = Needs()
    for definition in definitions:
        needs.computed_trait(definition)
    query = computed_relation(needs, micros(as_of), relations)
    query = query.transform(lambda node: _float_sums(node, dialect))
    assert isinstance(query, exp.Select)
    query = query.with_(relations.events, as_=prepared_events(dialect, needs, as_of, events),
                        materialized=dialect.cte_materialized)
    return query, needs


def values_table(rows: pa.Table, needs: Needs) -> pd.DataFrame:
    """Query rows (facets) as a pandas table: ``profile_id`` and one column per trait, sorted by id."""
    data: dict[str, Any] = {"profile_id": rows.column("pid").to_pylist()}
    for name, (definition, need) in needs.computed.items():
        present = rows.column(need.column("present")).to_pylist()
        nums = rows.column(need.column("num")).to_pylist()
        if definition.value_type == "scalar":
            texts = rows.column(need.column("str")).to_pylist()
            flags = rows.column(need.column("bool")).to_pylist()
            data[name] = [
                None if not p else n if n is not None else t if t is not None else f
                for p, n, t, f in zip(present, nums, texts, flags)
            ]
        elif definition.value_type == "int":
            data[name] = pd.array([int(n) if p else None for p, n in zip(present, nums)], dtype="Int64")
        else:
            data[name] = [n if p else None for p, n in zip(present, nums)]
            data[name] = pd.array(data[name], dtype="Float64")
    frame = pd.DataFrame(data)
    return frame.sort_values("profile_id", kind="stable").reset_index(drop=True)


def run_traits_duckdb(con: duckdb.DuckDBPyConnection, ids: pa.Table, definitions: Sequence[TraitDefinition],
                      as_of: datetime, events: str = "events") -> pd.DataFrame:
    """Compute ``definitions`` with a ready ``profile_ids`` table (``segments.batch.profile_ids``)."""
    name = f"segmint_trait_ids_{next(_names)}"
    query, needs = traits_query(definitions, DuckDB(), as_of, events, Relations(profile_ids=name))
    con.register(name, ids)
    try:
        rows = con.sql(DuckDB().sql(query)).to_arrow_table()
    finally:
        con.unregister(name)
    return values_table(rows, needs)


def compute_traits(con: duckdb.DuckDBPyConnection, traits: Iterable[TraitDefinition] | dict[str, Any],
                   identity: IdentityConfig, as_of: datetime) -> pd.DataFrame:
    """Every profile's computed traits at ``as_of``, by SQL over the store on ``con``.

    ``traits`` are definitions (``load_traits(config.traits).definitions.values()``)
    or the raw ``traits:`` section. Returns ``profile_id`` and one column per
    trait; a missing value is ``<NA>``/None. Profiles are those with a
    message by ``as_of``, identities resolved as of then.
    """
    if isinstance(traits, dict):
        from segmint.traits.parse import load_traits

        loaded = load_traits(traits)
        if loaded.errors:
            from segmint.errors import DefinitionError

            raise DefinitionError("; ".join(str(e) for e in loaded.errors))
        traits = loaded.definitions.values()
    definitions = list(traits)
    if not definitions:
        return pd.DataFrame({"profile_id": pd.Series([], dtype=object)})
    return run_traits_duckdb(con, profile_ids(con, identity, as_of), definitions, as_of)
