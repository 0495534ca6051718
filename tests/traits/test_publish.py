"""Learned values published as traits behave like identify traits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.config.model import IdentityConfig
from segmint.identity.profiles import rebuild
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.store.store import Store
from segmint.traits.publish import profile_user_ids, publish_traits

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _seed(store: Store, ingestor: Ingestor) -> None:
    messages = [
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"plan": "pro"}, "timestamp": "2026-10-01T00:00:00Z", "messageId": "m1"},
        {"type": "track", "anonymousId": "a2", "event": "Viewed", "timestamp": "2026-10-02T00:00:00Z", "messageId": "m2"},
    ]
    ingestor.ingest(stage([orjson.dumps(m).decode() for m in messages], Arrival("web", T0, "test")))
    rebuild(store.connection, IdentityConfig())


def _traits(store: Store) -> dict[str, dict]:
    rows = store.query("SELECT profile_id, traits FROM profiles").to_pylist()
    return {r["profile_id"]: orjson.loads(r["traits"]) for r in rows}


@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1, allow_nan=False), min_size=2, max_size=2))
def test_published_values_become_the_profiles_traits_and_republishing_changes_nothing(tmp_path_factory, scores):
    with Store(tmp_path_factory.mktemp("pub") / "s.duckdb") as store:
        ingestor = Ingestor(store)
        _seed(store, ingestor)
        values = pd.DataFrame({"profile_id": ["u1", "a2"], "churn_probability": scores})
        users = profile_user_ids(store)
        first = publish_traits(ingestor, users, values, producer="churn", at=T0)
        again = publish_traits(ingestor, users, values, producer="churn", at=T0)
        rebuild(store.connection, IdentityConfig())
        traits = _traits(store)
        assert traits["u1"] == {"plan": "pro", "churn_probability": scores[0]}
        assert traits["a2"] == {"churn_probability": scores[1]}
        assert (first.accepted, again.accepted, again.duplicates) == (2, 0, 2)


def test_a_missing_value_clears_the_older_one(store):
    ingestor = Ingestor(store)
    _seed(store, ingestor)
    users = profile_user_ids(store)
    publish_traits(ingestor, users, pd.DataFrame({"profile_id": ["u1"], "score": [0.5]}), producer="m", at=T0)
    later = T0 + timedelta(days=1)
    publish_traits(ingestor, users, pd.DataFrame({"profile_id": ["u1"], "score": [float("nan")]}), producer="m", at=later)
    rebuild(store.connection, IdentityConfig())
    assert "score" not in _traits(store)["u1"]


def test_profiles_that_no_longer_exist_are_skipped(store):
    ingestor = Ingestor(store)
    _seed(store, ingestor)
    report = publish_traits(ingestor, profile_user_ids(store), pd.DataFrame({"profile_id": ["gone"], "x": [1]}), producer="m", at=T0)
    assert report.profiles == 0 and report.accepted == 0
