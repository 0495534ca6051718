"""RFM: recency, frequency and monetary value from orders, scored 1 to 5 and named.

An *order* is a ``track`` event named in ``rfm.events`` (``Order Completed``
by default) up to ``as_of``; it counts for the profile its primary
identifier (userId, else anonymousId) resolves to in the store's
``identities`` table, so a customer's orders from every device and login
are one customer's. Its value is the first property of ``rfm.value``
(``total``, else ``revenue``) that holds a JSON number; an order without
one counts for frequency and adds nothing to monetary value.

Per profile with at least one order:

- ``recency_days``: whole days from the last order to ``as_of``;
- ``frequency``: the number of orders;
- ``monetary``: the orders' total value (``rfm.monetary: avg``: the mean),
  rounded to cents so that sums differing only by floating-point noise tie.

Each measure becomes a score from 1 to 5 by the **share of scored
customers who are strictly worse** on it (longer ago, fewer orders, less
money): ``score = 1 + floor(5 * worse / customers)``. Equal values always
get equal scores, the rule needs no tie-breaker (the order rows arrive in
does not matter), and the lowest value always scores 1. When many
customers share a value (most shops have a majority of one-time buyers)
the scores above it skip numbers: they stay honest quantiles instead of
splitting equals apart as ``NTILE`` would.

``rfm_score`` is the three scores as text (``"545"``); ``rfm_segment`` is
the name of the first rule of ``rfm.segments`` whose ranges hold all three
(see ``docs/rfm.md`` for the standard table), else ``rfm.other``.

Scores and segments are computed in one SQL query on the store, local or
through the server that holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlglot import exp

from segmint.clock import as_utc
from segmint.config.model import Config, RfmConfig, RfmRule
from segmint.identity.profiles import PROFILE_EVENTS
from segmint.segments.batch.dialects import DuckDB
from segmint.store.store import StoreReader

if TYPE_CHECKING:
    from segmint.traits.publish import PublishReport

PRODUCER = "rfm"
SCORES = 5
TRAITS = ("rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_score", "rfm_segment")
COLUMNS = (
    "profile_id", "last_order", "recency_days", "frequency", "monetary",
    "rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_score", "rfm_segment",
)  # fmt: skip

_DAY_US = 86_400_000_000

_QUERY = """
WITH orders AS (
    SELECT e.profile_id, e.event_time, {value} AS value
    FROM ({profile_events}) AS e  -- events with their profile, by the store's own rule
    WHERE e.type = 'track' AND {is_order} AND e.event_time <= {as_of}
),
customers AS (
    SELECT profile_id, max(event_time) AS last_order, count(*) AS frequency,
           round(coalesce({monetary}, 0), 2) AS monetary
    FROM orders GROUP BY profile_id
),
measured AS (
    SELECT *, (epoch_us({as_of}) - epoch_us(last_order)) // {day} AS recency_days FROM customers
),
scored AS (
    SELECT *,
        1 + ({n} * (rank() OVER (ORDER BY recency_days DESC) - 1)) // count(*) OVER () AS rfm_recency,
        1 + ({n} * (rank() OVER (ORDER BY frequency) - 1)) // count(*) OVER () AS rfm_frequency,
        1 + ({n} * (rank() OVER (ORDER BY monetary) - 1)) // count(*) OVER () AS rfm_monetary
    FROM measured
)
SELECT profile_id, last_order, recency_days, frequency, monetary,
       rfm_recency, rfm_frequency, rfm_monetary,
       concat(rfm_recency, rfm_frequency, rfm_monetary) AS rfm_score,
       {segment} AS rfm_segment
FROM scored
ORDER BY profile_id
"""


def rfm_sql(config: RfmConfig, as_of: datetime) -> str:
    """The query that scores and names every customer at ``as_of`` (DuckDB SQL over the store)."""
    dialect = DuckDB()
    instant = as_utc(as_of)
    events = exp.column("event", "e").isin(*[exp.Literal.string(name) for name in config.events])
    value = exp.Coalesce(
        this=_number(dialect, config.value[0]), expressions=[_number(dialect, p) for p in config.value[1:]]
    ) if len(config.value) > 1 else _number(dialect, config.value[0])
    total = dialect.float_sum(exp.column("value"), None)
    monetary = total if config.monetary == "sum" else exp.Div(this=total, expression=exp.func("count", exp.Star()))
    return _QUERY.format(
        profile_events=PROFILE_EVENTS.format(events="events", identities="identities"),
        value=value.sql("duckdb"),
        is_order=events.sql("duckdb"),
        as_of=dialect.sql(dialect.instant(instant.isoformat())),
        monetary=monetary.sql("duckdb"),
        day=_DAY_US,
        n=SCORES,
        segment=segment_case(config.segments, config.other).sql("duckdb"),
    )


def _number(dialect: DuckDB, key: str) -> exp.Expr:
    """The property ``key`` as a DOUBLE when it holds a JSON number, else NULL (as segments read it)."""
    value = exp.func("json_extract", exp.column("properties", "e"), exp.Literal.string(dialect.path((key,))))
    return exp.Case().when(dialect.is_kind(value, ("num",)), dialect.to_double(value.copy()))


def segment_case(rules: Sequence[RfmRule], other: str) -> exp.Expr:
    """``CASE`` naming the first rule whose ranges hold ``rfm_recency/frequency/monetary``."""
    case = exp.Case()
    for rule in rules:
        holds = exp.and_(
            *[
                exp.Between(this=exp.column(f"rfm_{measure}"), low=exp.Literal.number(low), high=exp.Literal.number(high))
                for measure, (low, high) in (
                    ("recency", rule.recency), ("frequency", rule.frequency), ("monetary", rule.monetary)
                )
            ]
        )
        case = case.when(holds, exp.Literal.string(rule.name))
    fallback = exp.Literal.string(other)
    return case.else_(fallback) if rules else fallback


def _section(config: Config | RfmConfig) -> RfmConfig:
    return config.rfm if isinstance(config, Config) else config


def rfm_scores(store: StoreReader, config: Config | RfmConfig, as_of: datetime) -> pd.DataFrame:
    """One row per profile with an order up to ``as_of``: measures, scores and segment (see ``COLUMNS``)."""
    table = store.query(rfm_sql(_section(config), as_of))
    frame = table.to_pandas()
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in COLUMNS})
    for column in ("recency_days", "frequency", "rfm_recency", "rfm_frequency", "rfm_monetary"):
        frame[column] = frame[column].astype("int64")
    frame["monetary"] = frame["monetary"].astype("float64")
    return frame[list(COLUMNS)]


def _dtype(column: str) -> str:
    if column in ("profile_id", "rfm_score", "rfm_segment"):
        return "object"
    if column == "last_order":
        return "datetime64[us, UTC]"
    return "float64" if column == "monetary" else "int64"


def rfm_grid(scores: pd.DataFrame, config: Config | RfmConfig) -> pd.DataFrame:
    """Per segment, in table order (``other`` last, if used): size and value.

    Columns: ``segment``, ``customers``, ``share`` (of customers),
    ``monetary`` (their total), ``value_share`` (of all customers' total),
    ``recency_days`` (median), ``frequency`` (mean), ``monetary_mean``.
    """
    section = _section(config)
    names = [rule.name for rule in section.segments]
    if (scores["rfm_segment"] == section.other).any():
        names.append(section.other)
    groups = scores.groupby("rfm_segment")
    customers, total = len(scores), float(scores["monetary"].sum())
    rows: list[dict[str, Any]] = []
    for name in names:
        members = groups.get_group(name) if name in groups.groups else scores.iloc[0:0]
        size, value = len(members), float(members["monetary"].sum())
        rows.append(
            {
                "segment": name,
                "customers": size,
                "share": size / customers if customers else 0.0,
                "monetary": value,
                "value_share": value / total if total else 0.0,
                "recency_days": float(members["recency_days"].median()) if size else None,
                "frequency": float(members["frequency"].mean()) if size else None,
                "monetary_mean": value / size if size else None,
            }
        )
    return pd.DataFrame(rows)


def rfm_matrix(scores: pd.DataFrame) -> pd.DataFrame:
    """Customers per recency score (rows, 5 first) and frequency score (columns, 1 to 5)."""
    scale = list(range(1, SCORES + 1))
    counts = pd.crosstab(scores["rfm_recency"], scores["rfm_frequency"])
    return counts.reindex(index=scale[::-1], columns=scale, fill_value=0).rename_axis(
        index="recency", columns="frequency"
    )


def rfm_report(scores: pd.DataFrame, config: Config | RfmConfig, as_of: datetime) -> dict[str, Any]:
    """The grid as plain data (for ``--format json`` and the demo): segments and recency × frequency counts."""
    grid = rfm_grid(scores, config)
    matrix = rfm_matrix(scores)
    return {
        "as_of": as_of,
        "customers": len(scores),
        "monetary": float(scores["monetary"].sum()),
        "segments": [
            {key: (None if value != value else value) for key, value in row.items()}  # NaN (empty segment) as null
            for row in grid.to_dict(orient="records")
        ],
        "recency_by_frequency": {
            str(r): {str(f): int(matrix.loc[r, f]) for f in matrix.columns} for r in matrix.index
        },
    }


def rfm_traits(scores: pd.DataFrame) -> pd.DataFrame:
    """The columns published as traits: ``profile_id`` and ``TRAITS``."""
    return scores[["profile_id", *TRAITS]]


def publish_rfm(store: Any, config: Config, scores: pd.DataFrame, at: datetime) -> PublishReport:
    """Publish the scores as traits (``TRAITS``) stamped ``at``, then refresh the profiles.

    ``store`` is a local ``Store`` or the ``RemoteStore`` of the server that
    holds it; either way the traits arrive as ``identify`` calls from the
    source ``segmint`` (see ``segmint.traits.publish``).
    """
    from segmint.traits.publish import publish_to_store

    return publish_to_store(store, config.identity, rfm_traits(scores), producer=PRODUCER, at=at)
