"""Outliers: planted extreme customers are flagged (never dropped) and the reason names what is extreme."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.config.model import IdentityConfig
from segmint.identity.profiles import rebuild
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.learn.prepare import FeaturePreparer
from segmint.quality.outliers import describe, explain, find_outliers
from segmint.store.store import Store

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _shop(seed: int, extreme: int) -> list[dict]:
    """200 ordinary customers (a few views, 0-3 orders) and ``extreme`` ones with hundreds of orders."""
    rng = np.random.default_rng(seed)
    messages, n = [], 0

    def add(user: str, event: str, days_ago: float, **properties: object) -> None:
        nonlocal n
        n += 1
        when = (AS_OF - timedelta(days=days_ago)).isoformat()
        messages.append({"type": "track", "event": event, "userId": user, "messageId": f"m{n}",
                         "timestamp": when, "properties": properties})

    for c in range(200):
        user = f"c{c:03d}"
        for _ in range(int(rng.integers(1, 6))):
            add(user, "Product Viewed", float(rng.uniform(1, 300)))
        for _ in range(int(rng.integers(0, 4))):
            add(user, "Order Completed", float(rng.uniform(1, 300)), total=float(rng.uniform(20, 150)))
    for e in range(extreme):
        for _ in range(300):
            add(f"bulk{e}", "Order Completed", float(rng.uniform(1, 300)), total=float(rng.uniform(2000, 5000)))
    return messages


@pytest.mark.parametrize("seed", [1, 2])
def test_planted_bulk_buyers_are_flagged_with_orders_or_spend_as_the_reason(tmp_path, seed):
    with Store(tmp_path / "s.duckdb") as store:
        messages = _shop(seed, extreme=2)
        Ingestor(store).ingest(stage([orjson.dumps(m).decode() for m in messages], Arrival("web", AS_OF, "t")))
        rebuild(store.connection, IdentityConfig())
        found, source = find_outliers(store, AS_OF, share=0.02)
    assert "fitted now" in source
    flagged = set(found["profile_id"])
    assert {"bulk0", "bulk1"} <= flagged
    assert len(flagged) <= 0.02 * 202 + 2  # the share asked for, not the whole population
    for row in found[found["profile_id"].str.startswith("bulk")].itertuples():
        assert {r["feature"] for r in row.reasons} & {"orders", "spend"}
        assert "sd)" in describe(row.reasons)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(20, 80))
def test_explain_lists_only_flagged_rows_by_their_most_extreme_features(seed, rows):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"orders": rng.poisson(3, rows).astype(float), "spend": rng.gamma(2, 50, rows), "tenure_days": rng.uniform(1, 900, rows)},
        index=[f"p{i}" for i in range(rows)],
    )
    preparer = FeaturePreparer(outlier_share=0.1, impute="median").fit(frame)
    matrix = preparer.transform(frame)
    flagged = rng.random(rows) < 0.3
    out = explain(frame, matrix, preparer, flagged)
    assert sorted(out["profile_id"]) == sorted(frame.index[flagged])
    assert list(out["distance"]) == sorted(out["distance"], reverse=True)
    for row in out.itertuples():
        z = [abs(r["z"]) for r in row.reasons]
        assert z == sorted(z, reverse=True) and row.distance == pytest.approx(z[0], abs=0.01)
        for reason in row.reasons:
            assert reason["value"] == pytest.approx(frame.loc[row.profile_id, reason["feature"]])
