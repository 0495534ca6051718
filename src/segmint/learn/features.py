"""Behavioural features of every profile, derived from the events with no configuration.

Each feature is one aggregate over a profile's events (through identity
resolution: the store's ``identities`` table says which profile an event
belongs to) up to an instant ``as_of``:

============================  =====  ==============================================
feature                       kind   meaning
============================  =====  ==============================================
``days_since_last_order``     days   since the last ``Order Completed`` [#never]_
``orders``                    count  ``Order Completed`` events
``spend``                     money  sum of their ``total`` (else ``revenue``)
``average_order_value``       money  spend / orders (0 without orders)
``browsing_events``           count  pages, product and list views, searches
``product_views_90d``         count  ``Product Viewed`` in the last 90 days
``sessions_90d``              count  visits (30 minutes of silence end one), 90 days
``cart_adds``                 count  ``Product Added`` events
``categories_browsed``        count  distinct ``category`` of viewed products/lists
``days_since_last_seen``      days   since the profile's last event
``tenure_days``               days   since the profile's first event
============================  =====  ==============================================

.. [#never] A profile that never ordered is given twice the longest time
   since any order in the data: "longer ago than anyone", without an
   arbitrary constant that depends on the shop's age. A fitted model keeps
   the value it was trained with and measures new profiles with it.

Messages segmint published itself (source ``segmint``: learned traits) are
not behaviour and are left out. The profiles are the store's current ones
(the last identity rebuild); only events up to ``as_of`` count, and a
profile without any is absent.

Any other name is read as a profile *trait*: its latest ``identify`` value
as of the instant; numbers stay numbers, anything else is categorical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from segmint.errors import SegmintError
from segmint.identity.profiles import PROFILE_EVENTS, PROFILE_TRAITS, events_as_of

Kind = Literal["count", "money", "days", "number", "category"]
SKEWED: frozenset[str] = frozenset({"count", "money", "days"})  # log1p before scaling


class FeatureError(SegmintError):
    """A feature was asked for that the store cannot give."""


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Kind
    words: str  # how a marketer reads it: "orders", "days since the last order"


BEHAVIOURAL: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("days_since_last_order", "days", "days since the last order"),
        Feature("orders", "count", "orders"),
        Feature("spend", "money", "spend"),
        Feature("average_order_value", "money", "average order value"),
        Feature("browsing_events", "count", "browsing events"),
        Feature("product_views_90d", "count", "product views in 90 days"),
        Feature("sessions_90d", "count", "visits in 90 days"),
        Feature("cart_adds", "count", "products added to cart"),
        Feature("categories_browsed", "count", "categories browsed"),
        Feature("days_since_last_seen", "days", "days since last seen"),
        Feature("tenure_days", "days", "days since first seen"),
    )
}

# What tells the demo's personas (and most shops' customers) apart:
# recency, frequency, monetary value, browsing and tenure.
DEFAULT_FEATURES: tuple[str, ...] = ("days_since_last_order", "orders", "spend", "browsing_events", "tenure_days")

ORDER = "e.type = 'track' AND e.name = 'Order Completed'"
BROWSE = "e.type = 'page' OR e.name IN ('Product Viewed', 'Product List Viewed', 'Products Searched')"
SESSION_GAP_S = 30 * 60
WINDOW_S = 90 * 86_400

BEHAVIOUR_SQL = """
WITH e AS (
    SELECT pe.profile_id, pe.type, coalesce(pe.event, pe.name) AS name,
           epoch(pe.event_time) AS t, pe.properties
    FROM ({profile_events}) AS pe
    WHERE pe.source <> 'segmint' {only}
),
gaps AS (
    SELECT profile_id, t,
           CASE WHEN t - lag(t) OVER (PARTITION BY profile_id ORDER BY t) <= {gap} THEN 0 ELSE 1 END AS starts
    FROM e WHERE t > {now} - {window}
),
sessions AS (SELECT profile_id, sum(starts) AS sessions_90d FROM gaps GROUP BY profile_id),
agg AS (
    SELECT profile_id,
           count(*) FILTER (WHERE {order}) AS orders,
           sum(CASE WHEN {order} THEN coalesce(try_cast(e.properties ->> 'total' AS DOUBLE),
                                               try_cast(e.properties ->> 'revenue' AS DOUBLE), 0) END) AS spend,
           max(t) FILTER (WHERE {order}) AS last_order,
           count(*) FILTER (WHERE {browse}) AS browsing_events,
           count(*) FILTER (WHERE e.name = 'Product Viewed' AND t > {now} - {window}) AS product_views_90d,
           count(*) FILTER (WHERE e.name = 'Product Added') AS cart_adds,
           count(DISTINCT CASE WHEN e.name IN ('Product Viewed', 'Product List Viewed')
                               THEN e.properties ->> 'category' END) AS categories_browsed,
           min(t) AS first_t, max(t) AS last_t
    FROM e GROUP BY profile_id
)
SELECT agg.profile_id,
       ({now} - last_order) / 86400.0 AS days_since_last_order,
       orders,
       coalesce(spend, 0.0) AS spend,
       CASE WHEN orders > 0 THEN coalesce(spend, 0.0) / orders ELSE 0.0 END AS average_order_value,
       browsing_events, product_views_90d,
       coalesce(sessions.sessions_90d, 0) AS sessions_90d,
       cart_adds, categories_browsed,
       ({now} - last_t) / 86400.0 AS days_since_last_seen,
       ({now} - first_t) / 86400.0 AS tenure_days
FROM agg LEFT JOIN sessions USING (profile_id)
ORDER BY agg.profile_id
"""


def _instant(as_of: datetime) -> str:
    return f"epoch(TIMESTAMPTZ '{as_of.isoformat()}')"


def behavioural_features(
    store: Any, as_of: datetime, *, profiles: Sequence[str] | None = None, never_order_days: float | None = None
) -> pd.DataFrame:
    """Every behavioural feature of every profile (or of ``profiles``), indexed by ``profile_id``.

    ``never_order_days`` is the value of ``days_since_last_order`` for
    profiles that never ordered; by default twice the longest observed. A
    fitted model passes the value it was trained with, so one new profile
    is measured as the population was. The value used is in
    ``frame.attrs["never_order_days"]``.
    """
    events = events_as_of(as_of)
    sql = BEHAVIOUR_SQL.format(
        profile_events=PROFILE_EVENTS.format(events=events, identities="identities"),
        only="AND pe.profile_id IN (SELECT unnest(?))" if profiles is not None else "",
        now=_instant(as_of),
        gap=SESSION_GAP_S,
        window=WINDOW_S,
        order=ORDER,
        browse=BROWSE,
    )
    table = store.query(sql, [list(profiles)] if profiles is not None else None)
    frame = table.to_pandas().set_index("profile_id").astype({name: np.float64 for name in BEHAVIOURAL})
    if never_order_days is None:
        longest = frame["days_since_last_order"].max()
        never_order_days = 2 * float(longest) if pd.notna(longest) else 0.0
    frame["days_since_last_order"] = frame["days_since_last_order"].fillna(never_order_days)
    frame.attrs["never_order_days"] = never_order_days
    return frame


def trait_features(
    store: Any, as_of: datetime, keys: Sequence[str], *, profiles: Sequence[str] | None = None
) -> pd.DataFrame:
    """The latest identify value of each trait in ``keys``, as of ``as_of`` (missing as NaN)."""
    profile_events = PROFILE_EVENTS.format(events=events_as_of(as_of), identities="identities")
    columns = ", ".join(f"json_extract_string(traits, ?) AS c{i}" for i in range(len(keys)))
    only = "WHERE profile_id IN (SELECT unnest(?))" if profiles is not None else ""
    sql = f"SELECT profile_id, {columns} FROM ({PROFILE_TRAITS.format(profile_events=profile_events)}) {only}"
    paths = ['$."' + key.replace('"', '\\"') + '"' for key in keys]
    table = store.query(sql, [*paths, list(profiles)] if profiles is not None else paths)
    frame = table.to_pandas().set_index("profile_id")
    frame.columns = list(keys)
    for key in keys:
        numbers = pd.to_numeric(frame[key], errors="coerce")
        present = frame[key].notna()
        # A trait is numeric when every value it has is a number.
        frame[key] = numbers if present.any() and numbers[present].notna().all() else frame[key].astype(object)
    return frame


def load_features(
    store: Any,
    as_of: datetime,
    names: Sequence[str] | None = None,
    *,
    profiles: Sequence[str] | None = None,
    never_order_days: float | None = None,
) -> pd.DataFrame:
    """The chosen features (default :data:`DEFAULT_FEATURES`) of every profile seen by ``as_of``.

    Names in :data:`BEHAVIOURAL` are derived from the events; any other name
    is a trait. Profiles with no events by ``as_of`` are left out; a trait a
    profile does not have is NaN (the preparation step imputes it).
    """
    names = list(names or DEFAULT_FEATURES)
    if len(set(names)) != len(names):
        raise FeatureError(f"a feature is named twice in {', '.join(names)}")
    behaviour = behavioural_features(store, as_of, profiles=profiles, never_order_days=never_order_days)
    frame = behaviour[[n for n in names if n in BEHAVIOURAL]]
    keys = [n for n in names if n not in BEHAVIOURAL]
    if keys:
        traits = trait_features(store, as_of, keys, profiles=profiles)
        absent = [k for k in keys if traits[k].isna().all()] if len(traits) else keys
        if absent and profiles is None:  # a few profiles to assign may lack a trait: it is imputed
            known = ", ".join(BEHAVIOURAL)
            raise FeatureError(
                f"no profile has the trait {', '.join(absent)} by {as_of.isoformat()}; "
                f"use a trait the profiles carry, or a behavioural feature: {known}"
            )
        frame = frame.join(traits, how="left")
    frame = frame[names]
    frame.attrs["never_order_days"] = behaviour.attrs["never_order_days"]
    return frame


def kind_of(name: str, values: pd.Series) -> Kind:
    """A feature's kind: from the catalogue for behavioural ones, from the values for traits."""
    if name in BEHAVIOURAL:
        return BEHAVIOURAL[name].kind
    return "number" if pd.api.types.is_numeric_dtype(values) else "category"


def words(name: str) -> str:
    """How a feature reads in a sentence."""
    return BEHAVIOURAL[name].words if name in BEHAVIOURAL else name.replace("_", " ")
