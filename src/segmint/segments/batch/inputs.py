"""The inputs of a batch evaluation at an instant, for any engine.

Two steps:

1. :func:`profile_ids` (engine-independent, from the DuckDB store): resolve
   identities from the messages up to ``as_of`` and map every identifier to
   its profile id, as a table ``profile_ids(kind, value, profile_id)``.
2. :func:`prepared_events` and :func:`prepared_traits` (engine-specific
   through a :class:`~segmint.segments.batch.dialects.Dialect`): from the
   raw ``events`` relation and ``profile_ids``, the two relations that the
   compiled segment logic reads, with every referenced JSON value already
   typed (see ``needs.py``):

   ``seg_events(user_id, anonymous_id, seq, event_time, t, type, event,
   <property facets>)``: one row per message up to ``as_of`` (``t`` is
   ``event_time`` in microseconds since the epoch, for window frames;
   ``event`` is set for track calls only); a message counts
   for the profile of its primary identifier (userId, else anonymousId),
   which the compiled query looks up in ``profile_ids`` after aggregating
   per identifier, joining far fewer rows than there are events;

   ``seg_traits(pid, <trait facets>)``: each referenced trait's latest
   ``identify`` value across the profile's identifiers, by (event time,
   seq); a JSON null there makes the trait missing.

The raw ``events`` relation needs the columns ``seq, type, event, user_id,
anonymous_id, event_time, properties, traits`` of the store's table (JSON
columns may be text).
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pyarrow as pa
from sqlglot import exp

from segmint.config.model import IdentityConfig
from segmint.identity.graph import ANONYMOUS_ID, USER_ID
from segmint.identity.profiles import resolve_identities
from segmint.segments.batch.dialects import Dialect
from segmint.segments.batch.needs import Needs, ValueNeed

PROFILE_IDS_SCHEMA = pa.schema([("kind", pa.string()), ("value", pa.string()), ("profile_id", pa.string())])


def profile_ids(con: duckdb.DuckDBPyConnection, identity: IdentityConfig, as_of: datetime) -> pa.Table:
    """Every identifier seen up to ``as_of`` and the id of its profile then."""
    # The resolution's own Arrow table: built from arrays, not a Python loop over profiles.
    table = resolve_identities(con, identity, as_of).identity_table()
    return table.select(PROFILE_IDS_SCHEMA.names).cast(PROFILE_IDS_SCHEMA)


def iso(as_of: datetime) -> str:
    """``as_of`` in UTC as ISO-8601 text (a naive instant is taken as UTC)."""
    moment = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
    return moment.isoformat()


def micros(as_of: datetime) -> int:
    """``as_of`` in microseconds since the epoch, as the engines compute ``t``."""
    moment = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def _str(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def _in(expression: exp.Expr, names: set[str]) -> exp.Expr:
    return exp.In(this=expression, expressions=[_str(n) for n in sorted(names)])


def primary_join(ids: str, table: str) -> tuple[exp.Expr, exp.Expr]:
    """``profile_ids`` and the condition joining it to ``table``'s primary identifier."""
    kind = exp.Case().when(_col("user_id", table).is_(exp.null()).not_(), _str(USER_ID)).else_(_str(ANONYMOUS_ID))
    on = exp.and_(
        exp.EQ(this=_col("kind", "i"), expression=kind),
        exp.EQ(
            this=_col("value", "i"),
            expression=exp.func("COALESCE", _col("user_id", table), _col("anonymous_id", table)),
        ),
    )
    return exp.to_table(ids).as_("i"), on


def facets(dialect: Dialect, need: ValueNeed, value: exp.Expr) -> list[exp.Expr]:
    """The typed columns of one JSON value (see ``needs.py``)."""

    def when(kind: str, then: exp.Expr) -> exp.Expr:
        return exp.Case().when(dialect.is_kind(value, (kind,)), then)

    present = exp.func("COALESCE", dialect.is_kind(value, ("num", "str", "bool", "list", "obj")), exp.false())
    columns = [
        exp.alias_(present, need.column("present")),
        exp.alias_(when("num", dialect.to_double(value)), need.column("num")),
        exp.alias_(when("str", dialect.to_string(value)), need.column("str")),
        exp.alias_(when("bool", dialect.to_boolean(value)), need.column("bool")),
    ]
    for item_kind in sorted(need.items):
        columns.append(exp.alias_(when("list", dialect.items(value, item_kind)), need.column(f"items_{item_kind}")))
    return columns


def _as_of(dialect: Dialect, as_of: datetime) -> exp.Expr:
    return exp.LTE(this=_col("event_time", "e"), expression=dialect.instant(iso(as_of)))


def prepared_events(dialect: Dialect, needs: Needs, as_of: datetime, events: str = "events") -> exp.Select:
    """``seg_events`` (see the module docstring) as a query over the raw ``events``.

    The store keeps ``event`` for track calls only (``ingest/normalize.py``),
    so it is read as it is: a plain column, which engines push filters on
    down to the scan.
    """
    keep = ["user_id", "anonymous_id", "seq", "event_time", "type", "event"]
    base = exp.select(*[_col(c, "e") for c in keep]).from_(exp.to_table(events).as_("e")).where(_as_of(dialect, as_of))
    paths = list(needs.properties)
    if paths:
        scoped = set().union(*(n.scope for n in needs.properties.values()))
        document = exp.Case().when(_in(_col("event", "e"), scoped), dialect.document(_col("properties", "e"), paths))
        values = exp.select(
            *keep,
            *[
                exp.alias_(
                    exp.Case().when(_in(_col("event"), need.scope), dialect.get(_col("doc"), paths, i)),
                    f"{need.prefix}_x",
                )
                for i, need in enumerate(needs.properties.values())
            ],
        ).from_(base.select(exp.alias_(document, "doc")).subquery("b"))
        base = values
    typed = [c for need in needs.properties.values() for c in facets(dialect, need, _col(f"{need.prefix}_x", "e"))]
    return exp.select(
        _col("user_id", "e"),
        _col("anonymous_id", "e"),
        _col("seq", "e"),
        _col("event_time", "e"),
        exp.alias_(dialect.micros(_col("event_time", "e")), "t"),
        _col("type", "e"),
        _col("event", "e"),
        *typed,
    ).from_(base.subquery("e"))


def prepared_traits(
    dialect: Dialect, needs: Needs, as_of: datetime, events: str = "events", ids: str = "profile_ids"
) -> exp.Select | None:
    """``seg_traits`` (see the module docstring), or None when no trait is referenced."""
    if not needs.traits:
        return None
    paths = [(name,) for name in needs.traits]
    base = (
        exp.select(
            _col("seq", "e"),
            _col("event_time", "e"),
            _col("user_id", "e"),
            _col("anonymous_id", "e"),
            exp.alias_(dialect.document(_col("traits", "e"), paths), "doc"),
        )
        .from_(exp.to_table(events).as_("e"))
        .where(
            exp.and_(
                exp.EQ(this=_col("type", "e"), expression=_str("identify")),
                _as_of(dialect, as_of),
                _col("traits", "e").is_(exp.null()).not_(),
            )
        )
    )
    table, on = primary_join(ids, "e")
    order = exp.Struct(
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier("t"), expression=_col("event_time", "e")),
            exp.PropertyEQ(this=exp.to_identifier("s"), expression=_col("seq", "e")),
        ]
    )
    values = (
        exp.select(
            exp.alias_(_col("profile_id", "i"), "pid"),
            exp.alias_(order, "ord"),
            *[
                exp.alias_(dialect.get(_col("doc", "e"), paths, i), f"{need.prefix}_x")
                for i, need in enumerate(needs.traits.values())
            ],
        )
        .from_(base.subquery("e"))
        .join(table, on=on)
    )
    # A key that is there (even as JSON null) is a candidate: the latest one wins.
    latest = (
        exp.select(
            "pid",
            *[
                exp.alias_(
                    exp.Filter(
                        this=exp.ArgMax(this=_col(f"{n.prefix}_x"), expression=_col("ord")),
                        expression=exp.Where(this=_col(f"{n.prefix}_x").is_(exp.null()).not_()),
                    ),
                    f"{n.prefix}_x",
                )
                for n in needs.traits.values()
            ],
        )
        .from_(values.subquery("v"))
        .group_by("pid")
    )
    typed = [c for need in needs.traits.values() for c in facets(dialect, need, _col(f"{need.prefix}_x", "l"))]
    return exp.select(exp.alias_(_col("pid", "l"), "pid"), *typed).from_(latest.subquery("l"))
