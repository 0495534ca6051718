"""What happened after a cutoff: the labels, and the time-based split.

A label looks at the window ``(cutoff, cutoff + horizon]``: how many
orders a profile placed in it and how much they spent. From those,

- **churn** (of a customer who had ordered by the cutoff): no order in the window;
- **propensity** (of any profile seen by the cutoff): at least one order in it;
- **spend**: the amount spent in it (the target of the learned CLV).

Orders in the window are resolved with the identity graph at the window's
end (the future may know that a new device is the same person), and each
profile of the cutoff is followed to the profile that holds its id then.

The split (:class:`Split`) trains on features as of ``T1`` with labels
from ``(T1, T2]`` and tests on features as of ``T2 = T1 + horizon`` with
labels from ``(T2, T2 + horizon]``: every test label lies after every
training label, and features never see past their own cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from segmint.clock import as_utc
from segmint.config.model import IdentityConfig
from segmint.models.features import FeatureSpec, id_params, identities_at


@dataclass(frozen=True)
class Split:
    """Two consecutive label windows of one horizon, ending at ``end``."""

    train_cutoff: datetime
    test_cutoff: datetime
    end: datetime
    horizon: timedelta

    @classmethod
    def ending(cls, end: datetime, horizon: timedelta) -> Split:
        end = as_utc(end)
        return cls(end - 2 * horizon, end - horizon, end, horizon)

    def as_dict(self) -> dict[str, Any]:
        return {
            "train_cutoff": self.train_cutoff.isoformat(),
            "test_cutoff": self.test_cutoff.isoformat(),
            "end": self.end.isoformat(),
            "horizon_days": self.horizon.total_seconds() / 86400,
        }


_WINDOW_ORDERS = """
WITH ids AS (
    SELECT unnest(?::VARCHAR[]) AS kind, unnest(?::VARCHAR[]) AS value, unnest(?::VARCHAR[]) AS profile_id
)
SELECT i.profile_id, count(*) AS orders,
       sum(coalesce(try_cast(json_extract_string(e.properties, ?) AS DOUBLE), 0)) AS spend
FROM events AS e
JOIN ids AS i
  ON i.kind = CASE WHEN e.user_id IS NOT NULL THEN 'user_id' ELSE 'anonymous_id' END
 AND i.value = coalesce(e.user_id, e.anonymous_id)
WHERE e.type = 'track' AND e.event = ?
  AND e.event_time > ?::TIMESTAMPTZ AND e.event_time <= ?::TIMESTAMPTZ
  AND NOT list_contains(?::VARCHAR[], e.source)
GROUP BY i.profile_id
"""


def _own_ids(ids: pa.Table) -> pd.DataFrame:
    """Each profile's own identifier: the (kind, value) whose value is the profile id."""
    frame = ids.select(["kind", "value", "profile_id"]).to_pandas()
    own = frame[frame["value"] == frame["profile_id"]]
    return own.drop_duplicates("profile_id").set_index("profile_id")


def build_labels(
    store: Any,
    identity: IdentityConfig,
    cutoff: datetime,
    horizon: timedelta,
    spec: FeatureSpec = FeatureSpec(),
    *,
    cutoff_ids: pa.Table | None = None,
) -> pd.DataFrame:
    """Orders and spend in ``(cutoff, cutoff + horizon]`` per profile of the cutoff (0 when none)."""
    cutoff = as_utc(cutoff)
    end = cutoff + horizon
    cutoff_ids = identities_at(store, identity, cutoff) if cutoff_ids is None else cutoff_ids
    end_ids = identities_at(store, identity, end)
    window = store.query(
        _WINDOW_ORDERS,
        [
            *id_params(end_ids),
            f"$.{spec.amount_property}",
            spec.order_event,
            cutoff.isoformat(),
            end.isoformat(),
            list(spec.excluded_sources),
        ],
    ).to_pandas().set_index("profile_id")
    own = _own_ids(cutoff_ids)
    later = end_ids.select(["kind", "value", "profile_id"]).to_pandas().rename(columns={"profile_id": "later"})
    followed = own.reset_index().merge(later, on=["kind", "value"], how="left").set_index("profile_id")["later"]
    labels = pd.DataFrame(index=own.index)
    labels["orders"] = followed.map(window["orders"]).fillna(0).astype("int64")
    labels["spend"] = followed.map(window["spend"]).fillna(0.0).astype("float64")
    return labels
