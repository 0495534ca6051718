"""The demo shop: deterministic files, valid Segment messages, the planted noise,
and personas that clustering can find again."""

from __future__ import annotations

import csv
import dataclasses
import re
import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler

from segmint.demo import DEFAULT_NOW, PERSONA_NAMES, DemoFiles, config_path, generate_shop

SMALL = 300
KINDS = {"track", "identify", "page", "screen", "group", "alias"}
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
BROWSING = {"Product Viewed", "Product List Viewed", "Products Searched"}
NOW = pd.Timestamp(DEFAULT_NOW)
FILES = ("events.jsonl", "customers.csv", "orders.parquet", "personas.csv")


def spec_problems(message: Any) -> list[str]:
    """What keeps a decoded line from being a Segment-spec message (empty if nothing)."""
    if not isinstance(message, dict):
        return ["not an object"]
    problems = []
    kind = message.get("type")
    if kind not in KINDS:
        problems.append(f"type {kind!r}")
    if not isinstance(message.get("messageId"), str) or not message["messageId"]:
        problems.append("no messageId")
    if kind == "alias":
        if not (message.get("userId") and message.get("previousId")):
            problems.append("alias without userId and previousId")
    elif not (message.get("userId") or message.get("anonymousId")):
        problems.append("neither userId nor anonymousId")
    if kind == "track" and not message.get("event"):
        problems.append("track without event")
    times = [message.get(key) for key in ("timestamp", "originalTimestamp", "sentAt", "receivedAt")]
    if times[0] is None and None in times[1:]:
        problems.append("no timestamp and no originalTimestamp/sentAt/receivedAt to derive one")
    for value in times:
        if value is not None and not (isinstance(value, str) and ISO_8601.match(value)):
            problems.append(f"time {value!r} is not ISO-8601")
    for key in ("properties", "traits", "context"):
        if key in message and not isinstance(message[key], dict):
            problems.append(f"{key} is not an object")
    return problems


def event_time(message: dict[str, Any]) -> pd.Timestamp:
    """The message's time as the segment spec derives it."""
    if "timestamp" in message:
        return pd.Timestamp(message["timestamp"])
    original, sent, received = (pd.Timestamp(message[k]) for k in ("originalTimestamp", "sentAt", "receivedAt"))
    return received - (sent - original)


def decode(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def valid_messages(directory: Path) -> tuple[list[bytes], list[dict[str, Any]]]:
    """All lines, and the valid messages among them, first copy of each messageId only."""
    lines = (directory / "events.jsonl").read_bytes().splitlines()
    seen: set[str] = set()
    messages = []
    for message in map(decode, lines):
        if message is not None and not spec_problems(message) and message["messageId"] not in seen:
            seen.add(message["messageId"])
            messages.append(message)
    return lines, messages


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return generate_shop(tmp_path_factory.mktemp("shop"), customers=SMALL)


@pytest.fixture(scope="module")
def feed(shop: DemoFiles) -> tuple[list[bytes], list[dict[str, Any]]]:
    return valid_messages(shop.directory)


@pytest.fixture(scope="module")
def events(shop: DemoFiles, feed: tuple[list[bytes], list[dict[str, Any]]]) -> pd.DataFrame:
    """The valid messages, one row each, with the profile identity resolution gives them."""
    frame = pd.DataFrame(feed[1])
    frame["ts"] = pd.to_datetime([event_time(m) for m in feed[1]], utc=True)
    customers = pd.read_csv(shop.customers_path, keep_default_na=False)
    by_email = dict(zip(customers.email.str.strip().str.lower(), customers.customer_id))
    link = {}
    both = frame[frame.userId.notna() & frame.anonymousId.notna()]
    link.update(zip(both.anonymousId, both.userId))
    aliases = frame[frame.type == "alias"]
    link.update(zip(aliases.previousId, aliases.userId))
    emailed = frame[(frame.type == "identify") & frame.userId.isna()]
    for anonymous_id, traits in zip(emailed.anonymousId, emailed.traits):
        link[anonymous_id] = by_email[traits["email"].strip().lower()]
    frame["profile"] = frame.userId.fillna(frame.anonymousId.map(link)).fillna(frame.anonymousId)
    return frame


@pytest.fixture(scope="module")
def orders(shop: DemoFiles) -> pd.DataFrame:
    return pd.read_parquet(shop.orders_path)


@pytest.fixture(scope="module")
def truth(shop: DemoFiles) -> pd.Series:
    return pd.read_csv(shop.personas_path).set_index("profile_id").persona


@pytest.fixture(scope="module")
def features(events: pd.DataFrame, orders: pd.DataFrame, truth: pd.Series) -> pd.DataFrame:
    """Recency, frequency, monetary value, browsing and tenure per profile."""
    days = lambda moments: (NOW - moments).dt.total_seconds() / 86_400  # noqa: E731
    browsing = events[(events.type == "page") | events.event.isin(BROWSING)]
    per_customer = orders.groupby("customer_id")
    frame = pd.DataFrame(index=truth.index)
    frame["days_since_order"] = days(per_customer.ordered_at.max())
    frame["orders"] = per_customer.size()
    frame["spend"] = per_customer.total.sum()
    frame["browsing"] = browsing.groupby("profile").size()
    frame["tenure"] = days(events.groupby("profile").ts.min())
    # Never ordered: further back than any order could be.
    return frame.fillna({"days_since_order": 1_000.0, "orders": 0, "spend": 0.0, "browsing": 0})


def standardised(features: pd.DataFrame) -> np.ndarray:
    return StandardScaler().fit_transform(np.log1p(features.clip(lower=0)))


# Determinism


def test_the_same_seed_gives_byte_identical_files(shop: DemoFiles, tmp_path: Path) -> None:
    again = generate_shop(tmp_path, customers=SMALL)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (shop.directory / name).read_bytes(), name
    assert again == dataclasses.replace(
        shop,
        directory=tmp_path,
        **{f"{name}_path": tmp_path / file for name, file in zip(("events", "customers", "orders", "personas"), FILES)},
    )


def test_another_seed_gives_other_files(shop: DemoFiles, tmp_path: Path) -> None:
    generate_shop(tmp_path, customers=SMALL, seed=8)
    for name in FILES:
        assert (tmp_path / name).read_bytes() != (shop.directory / name).read_bytes(), name


# The feed is Segment's spec, plus the planted noise


def test_every_line_but_the_planted_ones_is_a_segment_message(shop: DemoFiles, feed: Any) -> None:
    lines, _ = feed
    broken = [line for line in lines if spec_problems(decode(line))]
    assert len(lines) == shop.lines
    assert len(broken) == shop.invalid_lines > 0


def test_each_kind_of_broken_line_is_planted(feed: Any) -> None:
    problems = Counter()
    for line in feed[0]:
        message = decode(line)
        for problem in spec_problems(message) if message is not None else ["not JSON"]:
            problems[re.sub(r" '.*", "", problem)] += 1
    assert {"not JSON", "track without event", "neither userId nor anonymousId", "time"} <= set(problems)


def test_duplicates_repeat_a_message_verbatim(shop: DemoFiles, feed: Any) -> None:
    first: dict[str, bytes] = {}
    repeats = 0
    for line in feed[0]:
        message = decode(line)
        if message is None or spec_problems(message):
            continue
        if message["messageId"] in first:
            assert line == first[message["messageId"]]
            repeats += 1
        else:
            first[message["messageId"]] = line
    assert repeats == shop.duplicates > 0
    assert len(first) == shop.messages


def test_some_messages_have_only_skewed_device_times(events: pd.DataFrame) -> None:
    skewed = events[events.timestamp.isna()]
    assert len(skewed) > 0
    device_clock = pd.to_datetime(skewed.originalTimestamp)
    assert (abs(device_clock - skewed.ts) > timedelta(seconds=30)).all()  # the skew is real, and corrected
    assert events.sentAt.notna().sum() > len(skewed)  # and many carry sentAt/receivedAt besides a timestamp


def test_lines_come_roughly_in_time_order_with_some_late(events: pd.DataFrame) -> None:
    seconds = (events.ts - NOW).dt.total_seconds().to_numpy()
    late = seconds[1:] < np.maximum.accumulate(seconds)[:-1] - 600
    assert 0 < late.sum() < 0.02 * len(seconds)


def test_all_times_are_before_now_and_within_the_history(events: pd.DataFrame) -> None:
    assert events.ts.max() <= NOW
    assert events.ts.min() >= NOW - timedelta(days=540)


def test_the_feed_has_no_order_completed(events: pd.DataFrame) -> None:
    assert "Order Completed" not in set(events.event.dropna())


def test_tracks_carry_the_ecommerce_spec_properties(events: pd.DataFrame) -> None:
    expected = {
        "Products Searched": {"query"},
        "Product List Viewed": {"list_id", "category"},
        "Product Viewed": {"product_id", "sku", "category", "name", "brand", "price", "currency"},
        "Product Added": {"cart_id", "product_id", "sku", "category", "name", "price", "quantity"},
        "Product Removed": {"cart_id", "product_id", "sku", "quantity"},
        "Cart Viewed": {"cart_id"},
        "Checkout Started": {"order_id", "value", "revenue", "currency"},
    }
    tracks = events[events.type == "track"]
    assert set(tracks.event) == set(expected)
    for name, keys in expected.items():
        assert all(keys <= set(p) for p in tracks[tracks.event == name].properties), name
    pages = events[events.type == "page"]
    assert all({"path", "url", "title"} <= set(p) for p in pages.properties)
    assert all(c["library"]["name"] == "analytics.js" and "path" in c["page"] for c in tracks.context)


# Identity


def test_visitors_start_anonymous_then_identify(events: pd.DataFrame, truth: pd.Series) -> None:
    identifies = events[(events.type == "identify") & events.userId.notna()].sort_values("ts")
    assert identifies.anonymousId.notna().all()
    signups = identifies.drop_duplicates("userId")
    assert all({"email", "first_name", "last_name"} <= set(t) for t in signups.traits)
    first_by_user = events[events.userId.notna()].groupby("profile").ts.min()
    first_by_anyone = events.groupby("profile").ts.min()
    known = first_by_user.index
    assert (first_by_anyone[known] < first_by_user[known]).mean() > 0.9  # browsed before logging in
    anonymous_only = set(truth.index) - set(events.userId.dropna())
    assert anonymous_only and {truth[p] for p in anonymous_only} == {"New Visitors"}


def test_some_customers_have_two_devices_and_some_alias(events: pd.DataFrame) -> None:
    devices = events.dropna(subset=["anonymousId"]).groupby("profile").anonymousId.nunique()
    assert (devices >= 2).sum() > 0.1 * len(devices)
    assert 0 < (events.type == "alias").sum() < 0.1 * len(devices)


def test_emails_join_only_when_normalised(shop: DemoFiles, events: pd.DataFrame) -> None:
    customers = pd.read_csv(shop.customers_path, keep_default_na=False)
    normalised = customers.email.str.strip().str.lower()
    assert normalised.is_unique
    assert (customers.email != normalised).sum() > 0.05 * len(customers)
    newsletter = events[(events.type == "identify") & events.userId.isna()]
    typed = [t["email"] for t in newsletter.traits]
    assert typed and not set(typed) & set(customers.email)
    assert {e.strip().lower() for e in typed} <= set(normalised)


# Orders and carts


def test_orders_belong_to_customers_and_add_up(shop: DemoFiles, orders: pd.DataFrame) -> None:
    customers = pd.read_csv(shop.customers_path, keep_default_na=False)
    assert len(orders) == shop.orders and len(customers) == shop.customers
    assert set(orders.customer_id) <= set(customers.customer_id)
    assert orders.order_id.is_unique and orders.cart_id.is_unique
    assert np.allclose(orders.total, orders.revenue + orders.shipping + orders.tax, atol=0.011)
    assert str(orders.ordered_at.dtype) == "datetime64[ms, UTC]"
    assert orders.coupon.isna().any() and orders.coupon.notna().any()
    schema = pq.read_schema(shop.orders_path)
    assert set(schema.names) == {
        "order_id", "customer_id", "ordered_at", "total", "revenue", "shipping", "tax", "discount",
        "coupon", "currency", "products", "category", "cart_id",
    }  # fmt: skip


def test_an_order_closes_the_cart_filled_minutes_before(events: pd.DataFrame, orders: pd.DataFrame) -> None:
    added = events[events.event == "Product Added"]
    added = added.assign(cart_id=[p["cart_id"] for p in added.properties])
    last_added = added.groupby("cart_id").agg(added_at=("ts", "max"), profile=("profile", "first"))
    checkout = events[events.event == "Checkout Started"]
    checkout_at = pd.Series(checkout.ts.to_numpy(), index=[p["order_id"] for p in checkout.properties])
    joined = orders.join(last_added, on="cart_id")
    assert (joined.profile == joined.customer_id).all()
    gap = joined.ordered_at - joined.added_at
    assert (gap > timedelta(0)).all()
    assert (gap <= timedelta(minutes=10)).mean() > 0.9
    assert (checkout_at[orders.order_id].to_numpy() < orders.ordered_at.to_numpy()).all()


def test_some_carts_are_abandoned(events: pd.DataFrame, orders: pd.DataFrame) -> None:
    added = events[events.event == "Product Added"]
    carts = {p["cart_id"] for p in added.properties}
    abandoned = carts - set(orders.cart_id)
    assert len(abandoned) > 0.05 * len(carts)


# The planted personas


def test_every_profile_has_one_persona(shop: DemoFiles, truth: pd.Series, events: pd.DataFrame) -> None:
    assert len(truth) == shop.profiles == SMALL and truth.index.is_unique
    assert set(truth) == set(PERSONA_NAMES)
    assert set(events.profile) == set(truth.index)


def test_personas_behave_as_the_case_study_says(features: pd.DataFrame, events: pd.DataFrame, truth: pd.Series) -> None:
    last_seen = (NOW - events.groupby("profile").ts.max()).dt.days
    of = lambda persona: features[truth == persona]  # noqa: E731
    assert (of("Loyal Buyers").orders >= 6).all() and (of("Loyal Buyers").days_since_order < 30).all()
    assert (of("Window Shoppers").days_since_order > 180).all() and (of("Window Shoppers").browsing > 30).all()
    assert of("Occasional Buyers").orders.between(1, 3).all() and (of("Occasional Buyers").days_since_order < 180).all()
    assert (of("New Visitors").tenure <= 14).all() and (of("New Visitors").orders == 0).all()
    assert (of("Churned Customers").orders > 0).all() and (last_seen[truth == "Churned Customers"] > 180).all()


def test_kmeans_finds_the_personas_again(features: pd.DataFrame, truth: pd.Series) -> None:
    labels = KMeans(n_clusters=5, n_init=10, random_state=0).fit_predict(standardised(features))
    assert adjusted_rand_score(truth, labels) >= 0.9


def test_silhouette_chooses_five_clusters(features: pd.DataFrame) -> None:
    points = standardised(features)
    scores = {
        k: silhouette_score(points, KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(points))
        for k in range(2, 9)
    }
    assert max(scores, key=scores.__getitem__) == 5


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), customers=st.integers(1, 40))
def test_any_seed_gives_valid_messages(seed: int, customers: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        files = generate_shop(Path(directory), seed=seed, customers=customers)
        lines, messages = valid_messages(Path(directory))
        assert len(lines) == files.lines == files.messages + files.duplicates + files.invalid_lines
        assert len(messages) == files.messages
        with files.personas_path.open() as rows:
            assert sum(1 for _ in csv.DictReader(rows)) == customers


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="history_days"):
        generate_shop(tmp_path, history_days=90)
    with pytest.raises(ValueError, match="customers"):
        generate_shop(tmp_path, customers=0)


def test_now_moves_the_whole_shop(tmp_path: Path) -> None:
    later = DEFAULT_NOW + timedelta(days=365)
    generate_shop(tmp_path, customers=20, now=later)
    _, messages = valid_messages(tmp_path)
    times = [event_time(m) for m in messages]
    assert max(times) <= pd.Timestamp(later) and max(times) > pd.Timestamp(later - timedelta(days=30))


# The demo configuration


def test_the_config_imports_the_files_it_ships_with(shop: DemoFiles) -> None:
    config = yaml.safe_load(config_path().read_text())
    customers, orders = config["imports"]["customers"], config["imports"]["orders"]
    with shop.customers_path.open() as rows:
        header = set(next(csv.reader(rows)))
    assert {customers["user_id"], customers["timestamp"], *customers["traits"].values()} <= header
    columns = set(pq.read_schema(shop.orders_path).names)
    assert {orders["user_id"], orders["timestamp"], orders["message_id"], *orders["properties"].values()} <= columns
    assert orders["event"] == "Order Completed"
    assert config["identity"]["identifiers"]["email"]["normalize"] == ["trim", "lowercase"]


def test_the_config_defines_the_campaign_segments() -> None:
    segments = yaml.safe_load(config_path().read_text())["segments"]
    campaigns = ("loyal_buyers", "window_shoppers", "occasional_buyers", "new_visitors", "churned_customers")
    for name, persona in zip(campaigns, PERSONA_NAMES):
        assert persona in segments[name]["description"] and "Campaign:" in segments[name]["description"]
    assert segments["cart_abandoners"]["not_followed_by"]["same"] == ["cart_id"]
    assert {"recent_browsers", "big_spenders", "vip_at_risk"} <= set(segments)


def test_default_now_is_fixed() -> None:
    assert DEFAULT_NOW == datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
