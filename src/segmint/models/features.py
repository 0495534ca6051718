"""Per-profile features as of a cutoff, computed in SQL on the store.

A feature row describes a profile using only what was known at the
cutoff: events with ``event_time <= cutoff``, resolved into profiles by the
identity graph *as it stood at the cutoff* (a device linked to a customer
later is not theirs yet). That is what keeps training free of leakage from
the future; ``tests/models/test_features.py`` proves it with a property
test (adding any events after the cutoff never changes a feature).

Events published by segmint itself (source ``segmint``: model scores,
clusters) are left out, so a model never learns from its own outputs.

Everything goes through ``store.query``, so the same code runs on a local
store, inside the server and through a running server. The identities at
the cutoff travel to SQL as three list parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from segmint.clock import as_utc
from segmint.config.model import IdentityConfig
from segmint.identity.profiles import resolve_identities

# Behavioural features, in the order models see them (numeric traits follow).
FEATURES: tuple[str, ...] = (
    "days_since_last_order",
    "days_since_first_order",
    "orders_total",
    "orders_30d",
    "orders_90d",
    "orders_prev_90d",
    "orders_365d",
    "spend_total",
    "spend_90d",
    "spend_365d",
    "avg_order_value",
    "days_between_orders",
    "order_overdue",
    "days_since_last_seen",
    "tenure_days",
    "events_30d",
    "events_90d",
    "events_prev_90d",
    "activity_trend",
    "browsing_30d",
    "browsing_90d",
    "product_views_90d",
    "cart_adds_90d",
    "checkouts_90d",
    "sessions_30d",
    "sessions_90d",
    "sessions_total",
    "active_days_90d",
)
BROWSING_EVENTS = ("Product Viewed", "Product List Viewed", "Products Searched")
_TRAIT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class FeatureSpec:
    """What the features read: the order event, its amount, numeric traits.

    ``traits`` are identify traits read as numbers (the latest value at the
    cutoff); they become features named ``trait_<name>``.
    """

    order_event: str = "Order Completed"
    amount_property: str = "total"
    traits: tuple[str, ...] = ()
    session_gap_minutes: int = 30
    excluded_sources: tuple[str, ...] = ("segmint",)

    def __post_init__(self) -> None:
        for name in self.traits:
            if not _TRAIT_NAME.match(name):
                raise ValueError(f"trait {name!r}: a numeric trait feature needs a plain name (letters, digits, _)")

    @property
    def names(self) -> list[str]:
        return [*FEATURES, *(f"trait_{t}" for t in self.traits)]


class _QueryConnection:
    """Just enough of a DuckDB connection for ``resolve_identities``, over ``store.query``."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def execute(self, sql: str, params: Any = None) -> "_QueryConnection._Result":
        return self._Result(self._store.query(sql, params))

    class _Result:
        def __init__(self, table: pa.Table) -> None:
            self._table = table

        def fetchnumpy(self) -> dict[str, np.ndarray]:
            return {name: self._table.column(name).to_numpy(zero_copy_only=False) for name in self._table.column_names}


def identities_at(store: Any, identity: IdentityConfig, at: datetime) -> pa.Table:
    """The identity graph as it stood at ``at``: ``kind, value, profile_id`` per identifier."""
    return resolve_identities(_QueryConnection(store), identity, as_utc(at)).identity_table()  # type: ignore[arg-type]


def id_params(ids: pa.Table) -> list[list[str]]:
    return [ids.column(c).to_pylist() for c in ("kind", "value", "profile_id")]


# The events of each profile up to the cutoff: the cutoff and the identities
# are the parameters (cutoff, kinds, values, profile ids, excluded sources).
PROFILE_EVENTS_AT = """
params AS (SELECT ?::TIMESTAMPTZ AS cutoff),
ids AS (
    SELECT unnest(?::VARCHAR[]) AS kind, unnest(?::VARCHAR[]) AS value, unnest(?::VARCHAR[]) AS profile_id
),
ev AS (
    SELECT i.profile_id, e.type, e.event, e.event_time, e.properties, e.traits,
           (epoch(p.cutoff) - epoch(e.event_time)) / 86400.0 AS age
    FROM events AS e
    CROSS JOIN params AS p
    JOIN ids AS i
      ON i.kind = CASE WHEN e.user_id IS NOT NULL THEN 'user_id' ELSE 'anonymous_id' END
     AND i.value = coalesce(e.user_id, e.anonymous_id)
    WHERE e.event_time <= p.cutoff AND NOT list_contains(?::VARCHAR[], e.source)
)"""


def _features_sql(spec: FeatureSpec) -> str:
    traits = "".join(
        f""",
           arg_max(try_cast(json_extract_string(traits, '$.{t}') AS DOUBLE), event_time)
               FILTER (WHERE type = 'identify'
                       AND try_cast(json_extract_string(traits, '$.{t}') AS DOUBLE) IS NOT NULL) AS trait_{t}"""
        for t in spec.traits
    )
    return f"""
WITH {PROFILE_EVENTS_AT},
orders AS (
    SELECT profile_id, age, coalesce(try_cast(json_extract_string(properties, ?) AS DOUBLE), 0) AS amount
    FROM ev WHERE type = 'track' AND event = ?
),
order_stats AS (
    SELECT profile_id,
           min(age) AS days_since_last_order,
           max(age) AS days_since_first_order,
           count(*) AS orders_total,
           count(*) FILTER (WHERE age <= 30) AS orders_30d,
           count(*) FILTER (WHERE age <= 90) AS orders_90d,
           count(*) FILTER (WHERE age > 90 AND age <= 180) AS orders_prev_90d,
           count(*) FILTER (WHERE age <= 365) AS orders_365d,
           sum(amount) AS spend_total,
           coalesce(sum(amount) FILTER (WHERE age <= 90), 0) AS spend_90d,
           coalesce(sum(amount) FILTER (WHERE age <= 365), 0) AS spend_365d
    FROM orders GROUP BY profile_id
),
behaviour AS (
    SELECT profile_id, age, event, type,
           CASE WHEN lag(event_time) OVER w IS NULL THEN 1
                WHEN epoch(event_time) - epoch(lag(event_time) OVER w) > ? THEN 1
                ELSE 0 END AS starts_session
    FROM ev WHERE type IN ('track', 'page', 'screen')
    WINDOW w AS (PARTITION BY profile_id ORDER BY event_time)
),
activity AS (
    SELECT profile_id,
           min(age) AS days_since_last_seen,
           count(*) FILTER (WHERE age <= 30) AS events_30d,
           count(*) FILTER (WHERE age <= 90) AS events_90d,
           count(*) FILTER (WHERE age > 90 AND age <= 180) AS events_prev_90d,
           count(*) FILTER (WHERE age <= 30 AND (type = 'page' OR event IN {BROWSING_EVENTS})) AS browsing_30d,
           count(*) FILTER (WHERE age <= 90 AND (type = 'page' OR event IN {BROWSING_EVENTS})) AS browsing_90d,
           count(*) FILTER (WHERE age <= 90 AND event = 'Product Viewed') AS product_views_90d,
           count(*) FILTER (WHERE age <= 90 AND event = 'Product Added') AS cart_adds_90d,
           count(*) FILTER (WHERE age <= 90 AND event = 'Checkout Started') AS checkouts_90d,
           sum(starts_session) FILTER (WHERE age <= 30) AS sessions_30d,
           sum(starts_session) FILTER (WHERE age <= 90) AS sessions_90d,
           sum(starts_session) AS sessions_total,
           count(DISTINCT floor(age)) FILTER (WHERE age <= 90) AS active_days_90d
    FROM behaviour GROUP BY profile_id
),
everything AS (
    SELECT profile_id, max(age) AS tenure_days{traits}
    FROM ev GROUP BY profile_id
)
SELECT x.profile_id, o.* EXCLUDE (profile_id), a.* EXCLUDE (profile_id), x.* EXCLUDE (profile_id)
FROM everything AS x
LEFT JOIN order_stats AS o USING (profile_id)
LEFT JOIN activity AS a USING (profile_id)
ORDER BY x.profile_id
"""


def build_features(
    store: Any, identity: IdentityConfig, cutoff: datetime, spec: FeatureSpec = FeatureSpec(), *, ids: pa.Table | None = None
) -> pd.DataFrame:
    """One row per profile seen by ``cutoff`` (indexed by ``profile_id``), columns ``spec.names``.

    Counts are 0 when nothing happened; times since an order are NaN for
    profiles that never ordered (LightGBM reads NaN as its own case).
    """
    cutoff = as_utc(cutoff)
    ids = identities_at(store, identity, cutoff) if ids is None else ids
    params = [
        cutoff.isoformat(),
        *id_params(ids),
        list(spec.excluded_sources),
        f"$.{spec.amount_property}",
        spec.order_event,
        spec.session_gap_minutes * 60,
    ]
    frame = store.query(_features_sql(spec), params).to_pandas().set_index("profile_id")
    frame = frame.astype("float64")
    counts = [c for c in frame.columns if not c.startswith(("days_", "trait_", "avg_", "tenure"))]
    frame[counts] = frame[counts].fillna(0.0)
    orders = frame["orders_total"]
    frame["avg_order_value"] = (frame["spend_total"] / orders).where(orders > 0)
    span = frame["days_since_first_order"] - frame["days_since_last_order"]
    frame["days_between_orders"] = (span / (orders - 1)).where(orders > 1)
    frame["order_overdue"] = frame["days_since_last_order"] / frame["days_between_orders"].clip(lower=1.0)
    total = frame["events_90d"] + frame["events_prev_90d"]
    frame["activity_trend"] = (frame["events_90d"] - frame["events_prev_90d"]) / (total + 1.0)
    return frame[spec.names]


_ORDERS_AT = f"""
WITH {PROFILE_EVENTS_AT}
SELECT profile_id AS customer_id, event_time AS date,
       coalesce(try_cast(json_extract_string(properties, ?) AS DOUBLE), 0) AS amount
FROM ev WHERE type = 'track' AND event = ?
ORDER BY profile_id, event_time
"""


def orders_until(store: Any, ids: pa.Table, cutoff: datetime, spec: FeatureSpec = FeatureSpec()) -> pd.DataFrame:
    """Every order up to ``cutoff`` as a transactions table (``customer_id, date, amount``)."""
    params = [as_utc(cutoff).isoformat(), *id_params(ids), list(spec.excluded_sources), f"$.{spec.amount_property}", spec.order_event]
    frame = store.query(_ORDERS_AT, params).to_pandas()
    frame["date"] = pd.to_datetime(frame["date"], utc=True)
    return frame
