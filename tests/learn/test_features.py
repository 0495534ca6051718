"""Behavioural features and traits, checked against values worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pandas as pd
import pytest

from segmint.config.model import IdentityConfig
from segmint.identity.profiles import rebuild
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.learn.features import BEHAVIOURAL, FeatureError, load_features
from segmint.store.store import Store

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def at(days_ago: float, minutes: float = 0) -> str:
    return (NOW - timedelta(days=days_ago) + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def messages() -> list[dict]:
    n = iter(range(1000))
    def m(**fields):  # noqa: E306
        return {"messageId": f"m{next(n)}", **fields}
    return [
        # u1 starts anonymous (a1) 100 days ago, then signs up; two visits in the last 90 days.
        m(type="page", anonymousId="a1", name="Home", timestamp=at(100)),
        m(type="identify", userId="u1", anonymousId="a1", traits={"plan": "pro", "age": 40}, timestamp=at(100, 5)),
        m(type="track", userId="u1", event="Product Viewed", properties={"category": "shoes"}, timestamp=at(10)),
        m(type="track", userId="u1", event="Product Viewed", properties={"category": "hats"}, timestamp=at(10, 10)),
        m(type="track", userId="u1", event="Product Added", properties={}, timestamp=at(10, 12)),
        m(type="track", userId="u1", event="Order Completed", properties={"total": 30.0}, timestamp=at(10, 20)),
        m(type="track", userId="u1", event="Order Completed", properties={"revenue": 50}, timestamp=at(4)),
        # After the instant: not counted.
        m(type="track", userId="u1", event="Order Completed", properties={"total": 999}, timestamp=at(-1)),
        m(type="identify", userId="u1", traits={"plan": "max"}, timestamp=at(-1)),
        # a2 only browses, 20 days ago.
        m(type="track", anonymousId="a2", event="Product List Viewed", properties={"category": "hats"}, timestamp=at(20)),
        m(type="track", anonymousId="a2", event="Products Searched", properties={}, timestamp=at(20, 1)),
    ]


@pytest.fixture
def filled(store: Store) -> Store:
    arrival = Arrival("web", NOW, "test")
    Ingestor(store).ingest(stage([orjson.dumps(x).decode() for x in messages()], arrival))
    # A trait segmint published itself is not behaviour: it must not move first/last seen.
    learned = {"type": "identify", "userId": "u1", "traits": {"cluster_id": 1}, "timestamp": at(1), "messageId": "s1"}
    Ingestor(store).ingest(stage([orjson.dumps(learned).decode()], Arrival("segmint", NOW, "test")))
    rebuild(store.connection, IdentityConfig())
    return store


def test_behaviour_is_counted_through_identity_resolution_up_to_the_instant(filled: Store) -> None:
    frame = load_features(filled, NOW, list(BEHAVIOURAL))
    u1, a2 = frame.loc["u1"], frame.loc["a2"]
    assert u1["orders"] == 2 and u1["spend"] == 80 and u1["average_order_value"] == 40
    assert u1["days_since_last_order"] == pytest.approx(4)
    assert u1["tenure_days"] == pytest.approx(100) and u1["days_since_last_seen"] == pytest.approx(4)
    assert u1["browsing_events"] == 3  # the home page and two product views
    assert u1["product_views_90d"] == 2 and u1["cart_adds"] == 1 and u1["categories_browsed"] == 2
    assert u1["sessions_90d"] == 2  # 10 days ago (four events within 30 minutes), 4 days ago
    assert a2["orders"] == 0 and a2["spend"] == 0 and a2["average_order_value"] == 0
    assert a2["browsing_events"] == 2 and a2["categories_browsed"] == 1 and a2["sessions_90d"] == 1
    # Never ordered: twice the longest time since an order.
    assert a2["days_since_last_order"] == pytest.approx(8)
    assert frame.attrs["never_order_days"] == pytest.approx(8)


def test_a_model_can_impose_how_never_ordered_is_measured(filled: Store) -> None:
    frame = load_features(filled, NOW, ["days_since_last_order"], never_order_days=500.0)
    assert frame.loc["a2", "days_since_last_order"] == 500.0


def test_traits_are_their_value_at_the_instant_and_numbers_stay_numbers(filled: Store) -> None:
    frame = load_features(filled, NOW, ["orders", "plan", "age"])
    assert frame.loc["u1", "plan"] == "pro" and frame.loc["u1", "age"] == 40
    assert pd.isna(frame.loc["a2", "plan"]) and pd.isna(frame.loc["a2", "age"])
    assert pd.api.types.is_numeric_dtype(frame["age"])
    later = load_features(filled, NOW + timedelta(days=2), ["plan"])
    assert later.loc["u1", "plan"] == "max"


def test_profiles_without_events_by_the_instant_are_absent(filled: Store) -> None:
    assert set(load_features(filled, NOW - timedelta(days=50)).index) == {"u1"}


def test_a_trait_nobody_has_is_an_error_that_names_it(filled: Store) -> None:
    with pytest.raises(FeatureError, match="no_such_trait"):
        load_features(filled, NOW, ["orders", "no_such_trait"])
