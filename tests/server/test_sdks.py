"""The real Segment and RudderStack Python SDKs, pointed at segmint.

Each SDK sends every call type; the read API must then show one profile
holding the anonymous ids joined to the user id (through identify and
alias), with the latest identify value of each trait, and ``segmint
status`` (reaching the store through the running server) must count the
messages exactly. Property tests drive random call sequences through the
SDKs and check that each message is stored exactly once, retries included.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient
from segment.analytics.request import APIError
from serverkit import WEB_KEY, SegmintServer, unique

FLUSH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Flavor:
    sdk: str  # segment | rudder
    sync: bool
    gzip: bool

    def __str__(self) -> str:
        return f"{self.sdk}-{'sync' if self.sync else 'batched'}-{'gzip' if self.gzip else 'plain'}"


FLAVORS = [
    Flavor("segment", sync=True, gzip=False),
    Flavor("segment", sync=False, gzip=True),
    Flavor("rudder", sync=True, gzip=True),
    Flavor("rudder", sync=False, gzip=True),
]


@contextmanager
def sdk_client(flavor: Flavor, url: str) -> Iterator[Any]:
    """A real SDK client; on exit every queued message is flushed, within a bounded time."""
    errors: list[Exception] = []
    common = dict(host=url, sync_mode=flavor.sync, gzip=flavor.gzip, max_retries=1, timeout=15,
                  upload_interval=0.05, on_error=lambda error, batch: errors.append(error))
    if flavor.sdk == "segment":
        client = SegmentClient(WEB_KEY, max_total_backoff_duration=5, max_rate_limit_duration=5, **common)
    else:
        client = RudderClient(WEB_KEY, **common)
    try:
        yield client
    finally:
        if not flavor.sync:
            done = threading.Thread(target=client.shutdown, daemon=True)
            done.start()
            done.join(FLUSH_TIMEOUT_S)
            assert not done.is_alive(), f"{flavor}: flushing did not finish within {FLUSH_TIMEOUT_S} s"
    assert errors == [], f"{flavor}: the SDK reported errors: {errors}"


@pytest.fixture(autouse=True)
def _quiet_sdk_logs() -> None:
    logging.getLogger("segment").setLevel(logging.WARNING)
    logging.getLogger("rudderstack").setLevel(logging.WARNING)


# ---- one journey through every call type ------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS, ids=str)
def test_sdk_calls_build_one_profile_and_are_counted(server: SegmintServer, flavor: Flavor) -> None:
    anon, anon_app, uid = unique("anon-"), unique("anon-app-"), unique("user-")
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
    with sdk_client(flavor, server.url) as client:
        client.page(anonymous_id=anon, name="Home", properties={"path": "/"})
        client.track(anonymous_id=anon, event="Product Viewed", properties={"sku": "A-1", "price": 19.5})
        client.identify(user_id=uid, anonymous_id=anon, timestamp=t0,
                        traits={"name": "Ada", "plan": "free", "email": " Ada@Example.com "})
        client.track(user_id=uid, event="Order Completed", properties={"revenue": 39.0})
        client.group(user_id=uid, group_id="acme", traits={"industry": "tools"})
        client.screen(user_id=uid, name="Settings")
        client.identify(user_id=uid, timestamp=t0 + timedelta(hours=1), traits={"plan": "pro", "company": "Acme"})
        # Sent last but happened first: it must not override the later values.
        client.identify(user_id=uid, timestamp=t0 - timedelta(hours=1), traits={"plan": "trial", "seats": 3})
        client.alias(previous_id=anon_app, user_id=uid)
        client.track(anonymous_id=anon_app, event="App Opened")

    profiles = [server.profile(any_id) for any_id in (anon, anon_app, uid, "ada@example.com")]
    assert len({p["id"] for p in profiles}) == 1, profiles
    profile = profiles[0]
    assert profile["ids"]["user_id"] == [uid]
    assert sorted(profile["ids"]["anonymous_id"]) == sorted([anon, anon_app])
    assert profile["ids"]["email"] == ["ada@example.com"]

    status = server.status()
    assert status["messages"] == 10
    assert status["failed_messages"] == 0
    by_event = Counter({(row["type"], row["name"]): row["messages"] for row in status["by_event"]})
    assert by_event == Counter({
        ("identify", ""): 3, ("track", "Product Viewed"): 1, ("track", "Order Completed"): 1,
        ("track", "App Opened"): 1, ("page", "Home"): 1, ("screen", "Settings"): 1,
        ("group", ""): 1, ("alias", ""): 1,
    })
    library = server.query("SELECT DISTINCT source, context->>'$.library.name' AS library FROM events")
    assert library == [{"source": "web", "library": "analytics-python"}]

    # Group traits describe the group, not the person; the identify sent last happened first.
    expected_traits = {"name": "Ada", "plan": "pro", "email": " Ada@Example.com ", "company": "Acme", "seats": 3}
    assert profile["traits"] == expected_traits, f"{flavor}: identify traits not in the profile"


# ---- property: every message stored exactly once ------------------------------------

CALL = st.tuples(
    st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]),
    st.integers(0, 2),  # which person
    st.booleans(),  # identified (userId) or anonymous
)


def _send(client: Any, kind: str, person: str, known: bool, message_id: str) -> None:
    who = {"user_id": person} if known else {"anonymous_id": f"anon-{person}"}
    if kind == "track":
        client.track(event="Clicked", properties={"id": message_id}, message_id=message_id, **who)
    elif kind == "identify":
        client.identify(traits={"last": message_id}, message_id=message_id, **who)
    elif kind == "page":
        client.page(name="Docs", message_id=message_id, **who)
    elif kind == "screen":
        client.screen(name="Feed", message_id=message_id, **who)
    elif kind == "group":
        client.group(group_id=f"g-{person}", message_id=message_id, **who)
    else:
        client.alias(previous_id=f"anon-{person}", user_id=person, message_id=message_id)


@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    calls=st.lists(CALL, min_size=1, max_size=12),
    retried=st.data(),
    flavor=st.sampled_from(FLAVORS),
)
def test_random_sdk_calls_are_stored_exactly_once(
    shared_server: SegmintServer, calls: list[tuple[str, int, bool]], retried: st.DataObject, flavor: Flavor
) -> None:
    prefix = unique("prop-")
    people = [f"{prefix}-person{n}" for n in range(3)]
    sent = [(kind, people[who], known, f"{prefix}-{i}") for i, (kind, who, known) in enumerate(calls)]
    # SDKs retry a batch whose answer they did not get: resend some messages as they were.
    again = retried.draw(st.lists(st.sampled_from(sent), max_size=len(sent)), label="resent")
    with sdk_client(flavor, shared_server.url) as client:
        for call in [*sent, *again]:
            _send(client, *call)
    rows = shared_server.query(
        "SELECT message_id, type, source FROM events WHERE message_id LIKE ? || '-%'", [prefix]
    )
    assert Counter(r["message_id"] for r in rows) == Counter(mid for *_, mid in sent)
    assert {r["message_id"]: r["type"] for r in rows} == {mid: kind for kind, *_, mid in sent}
    assert {r["source"] for r in rows} == {"web"}
    failed = [f for f in shared_server.failed_messages() if prefix in str(f["message"])]
    assert failed == []


# ---- property: traits are the latest identify value, key by key --------------------

TRAIT_VALUE = st.one_of(
    st.integers(-10**6, 10**6),
    st.text(max_size=8),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.none(),  # a null unsets the trait
)
TRAITS = st.dictionaries(st.sampled_from(["plan", "city", "age", "vip"]), TRAIT_VALUE, max_size=3)


def _latest(identifies: list[dict[str, Any]]) -> dict[str, Any]:
    traits: dict[str, Any] = {}
    for one in identifies:  # in event-time order
        traits.update(one)
    return {key: value for key, value in traits.items() if value is not None}


@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(identifies=st.lists(TRAITS, min_size=1, max_size=5), order=st.randoms(use_true_random=False))
def test_traits_are_the_latest_identify_values_whatever_the_arrival_order(
    shared_server: SegmintServer, identifies: list[dict[str, Any]], order: Any
) -> None:
    uid = unique("traits-")
    t0 = datetime(2025, 6, 1, tzinfo=timezone.utc)
    timed = [(t0 + timedelta(minutes=i), traits) for i, traits in enumerate(identifies)]
    arrival = list(timed)
    order.shuffle(arrival)
    with sdk_client(Flavor("segment", sync=False, gzip=True), shared_server.url) as client:
        for at, traits in arrival:
            client.identify(user_id=uid, traits=traits, timestamp=at)
    profile = shared_server.profile(uid)
    assert profile["traits"] == _latest(identifies)
    assert shared_server.count("user_id = ?", [uid]) == len(identifies)


def test_sdk_with_an_unknown_write_key_is_refused_and_nothing_is_kept(shared_server: SegmintServer) -> None:
    """An SDK with a wrong key is told so (401) and nothing it sent is kept."""
    uid = unique("nokey-")
    client = SegmentClient("wk_wrong", host=shared_server.url, sync_mode=True, max_retries=0)
    with pytest.raises(APIError) as refused:
        client.track(user_id=uid, event="Should Not Land")
    assert refused.value.status == 401
    assert shared_server.count("user_id = ?", [uid]) == 0
    assert all(uid not in str(f["message"]) for f in shared_server.failed_messages())
