"""Features as of a cutoff see nothing after it: the no-leakage property."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.config.model import IdentityConfig
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.models.features import FeatureSpec, build_features
from segmint.models.labels import build_labels
from segmint.store.store import Store

CUTOFF = datetime(2026, 6, 1, tzinfo=timezone.utc)
IDENTITY = IdentityConfig.model_validate({"identifiers": {"email": {"paths": ["traits.email"], "normalize": ["trim", "lowercase"]}}})
SPEC = FeatureSpec(traits=("age",))
USERS = ["u1", "u2", "u3"]
DEVICES = ["a1", "a2", "a3", "a4", "a9"]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _ingest(store: Store, messages: list[dict], tag: str) -> None:
    lines = [orjson.dumps({**m, "messageId": f"{tag}-{i}"}).decode() for i, m in enumerate(messages)]
    Ingestor(store).ingest(stage(lines, Arrival("web", datetime(2026, 12, 1, tzinfo=timezone.utc), tag)))


def _history() -> list[dict]:
    day = timedelta(days=1)
    t0 = CUTOFF - 200 * day
    messages = []
    for k, user in enumerate(USERS):
        anon = DEVICES[k]
        messages.append({"type": "identify", "userId": user, "anonymousId": anon, "timestamp": _iso(t0 + k * day),
                         "traits": {"age": 30 + k, "email": f"{user}@x.io"}})
        for j in range(4 + k):
            at = t0 + (10 + 40 * j + k) * day
            messages.append({"type": "page", "anonymousId": anon, "timestamp": _iso(at)})
            messages.append({"type": "track", "event": "Product Viewed", "userId": user, "timestamp": _iso(at + timedelta(minutes=3))})
            if j % 2 == k % 2:
                messages.append({"type": "track", "event": "Order Completed", "userId": user,
                                 "timestamp": _iso(at + timedelta(minutes=9)), "properties": {"total": 20.0 + 5 * j}})
    messages.append({"type": "track", "event": "Product Viewed", "anonymousId": "a4", "timestamp": _iso(CUTOFF - 3 * day)})
    return messages


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    path = tmp_path_factory.mktemp("leak") / "base.duckdb"
    with Store(path) as store:
        _ingest(store, _history(), "history")
        features = build_features(store, IDENTITY, CUTOFF, SPEC)
    return path, features


later_event = st.fixed_dictionaries(
    {
        "seconds": st.integers(min_value=1, max_value=150 * 86400),
        "kind": st.sampled_from(["order", "view", "page", "login", "alias", "email", "age"]),
        "user": st.sampled_from(USERS + ["u7"]),
        "device": st.sampled_from(DEVICES),
        "total": st.floats(min_value=0, max_value=500, allow_nan=False),
    }
)


def _message(event: dict, at: datetime) -> dict:
    stamp = _iso(at)
    user, device = event["user"], event["device"]
    return {
        "order": {"type": "track", "event": "Order Completed", "userId": user, "timestamp": stamp, "properties": {"total": event["total"]}},
        "view": {"type": "track", "event": "Product Viewed", "anonymousId": device, "timestamp": stamp},
        "page": {"type": "page", "userId": user, "timestamp": stamp},
        # Links that arrive later: a device joins a user, an alias, an email shared with a device.
        "login": {"type": "identify", "userId": user, "anonymousId": device, "timestamp": stamp},
        "alias": {"type": "alias", "userId": user, "previousId": device, "timestamp": stamp},
        "email": {"type": "identify", "anonymousId": device, "timestamp": stamp, "traits": {"email": f"{user}@x.io"}},
        "age": {"type": "identify", "userId": user, "timestamp": stamp, "traits": {"age": event["total"]}},
    }[event["kind"]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(later_event, min_size=1, max_size=12))
def test_events_after_the_cutoff_never_change_the_features(tmp_path_factory, base, events):
    path, expected = base
    copy = tmp_path_factory.mktemp("leak-copy") / "s.duckdb"
    shutil.copy(path, copy)
    with Store(copy) as store:
        _ingest(store, [_message(e, CUTOFF + timedelta(seconds=e["seconds"])) for e in events], "later")
        features = build_features(store, IDENTITY, CUTOFF, SPEC)
    pd.testing.assert_frame_equal(features, expected)


def test_the_same_events_at_the_cutoff_do_change_them(tmp_path, base):
    """The property above can fail: an order at the cutoff itself counts."""
    path, expected = base
    shutil.copy(path, tmp_path / "s.duckdb")
    with Store(tmp_path / "s.duckdb") as store:
        _ingest(store, [_message({"kind": "order", "user": "u1", "device": "a1", "total": 10.0}, CUTOFF),
                        _message({"kind": "login", "user": "u1", "device": "a4", "total": 0.0}, CUTOFF)], "now")
        features = build_features(store, IDENTITY, CUTOFF, SPEC)
    assert features.loc["u1", "orders_total"] == expected.loc["u1", "orders_total"] + 1
    assert features.loc["u1", "days_since_last_order"] == 0
    # The device a4 joined u1 at the cutoff: its view is u1's now, and a4 is no profile of its own.
    assert "a4" in expected.index and "a4" not in features.index
    assert features.loc["u1", "product_views_90d"] == expected.loc["u1", "product_views_90d"] + 1


def test_features_count_what_happened(base):
    _, features = base
    assert list(features.columns) == SPEC.names
    assert features.loc["u3", "trait_age"] == 32
    assert [features.loc[u, "orders_total"] for u in USERS] == [2, 2, 3]
    assert pd.isna(features.loc["a4", "days_since_last_order"]) and features.loc["a4", "orders_total"] == 0
    assert features.loc["u1", "sessions_total"] == 4  # a page and a view 3 minutes apart are one session


def test_labels_follow_a_profile_into_the_future_graph(tmp_path, base):
    path, _ = base
    shutil.copy(path, tmp_path / "s.duckdb")
    with Store(tmp_path / "s.duckdb") as store:
        later = CUTOFF + timedelta(days=5)
        _ingest(store, [_message({"kind": "login", "user": "u2", "device": "a4", "total": 0.0}, later),
                        _message({"kind": "order", "user": "u2", "device": "a4", "total": 40.0}, later + timedelta(hours=1)),
                        _message({"kind": "order", "user": "u1", "device": "a1", "total": 5.0}, CUTOFF + timedelta(days=100))],
                "later")
        labels = build_labels(store, IDENTITY, CUTOFF, timedelta(days=90), SPEC)
    assert labels.loc["u2", "orders"] == 1 and labels.loc["u2", "spend"] == 40.0
    assert labels.loc["a4", "orders"] == 1  # the device's profile at the cutoff is u2's by the window's end
    assert labels.loc["u1", "orders"] == 0  # after the window
