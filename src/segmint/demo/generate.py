"""Write the demo shop's files: events, customers, orders and the ground truth.

:func:`generate_shop` is a pure function of its arguments (the seed, the
size, the instant ``now``): the same arguments give byte-identical files.
Each stage draws from its own child of the seed, so changing how one stage
draws leaves the others' data alone.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from segmint.clock import as_utc
from segmint.demo.catalog import CATEGORY_NAMES, CITIES, CURRENCY, make_catalog
from segmint.demo.messages import Delivery, Feed, Renderer, plan_delivery, write_messages
from segmint.demo.orders import Orders, make_orders
from segmint.demo.people import NEVER, Devices, People, make_devices, make_people, random_uuids
from segmint.demo.personas import MIN_HISTORY_DAYS, PERSONA_NAMES, Profiles, sample_profiles
from segmint.demo.sessions import Code, Sessions, Visit, fill_sessions, plan_sessions

DEFAULT_NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
CUSTOMER_COLUMNS = ("customer_id", "email", "first_name", "last_name", "gender", "age", "city", "country", "signup_at")
STAGES = ("catalog", "profiles", "sessions", "events", "people", "devices", "orders", "carts", "delivery", "ids")


@dataclass(frozen=True)
class DemoFiles:
    """Where the demo was written and what is in it.

    ``messages`` counts the distinct valid messages in ``events.jsonl``; the
    file also holds ``duplicates`` verbatim repeats of some of them and
    ``invalid_lines`` broken lines, ``lines`` in all. ``customers`` counts
    the rows of ``customers.csv``, ``profiles`` the rows of ``personas.csv``.
    """

    directory: Path
    events_path: Path
    customers_path: Path
    orders_path: Path
    personas_path: Path
    messages: int
    duplicates: int
    invalid_lines: int
    lines: int
    customers: int
    orders: int
    profiles: int


def generate_shop(
    directory: Path,
    *,
    seed: int = 7,
    customers: int = 2000,
    now: datetime = DEFAULT_NOW,
    history_days: int = 540,
    activity: float = 1.0,
) -> DemoFiles:
    """Generate the demo shop into ``directory`` (created if missing).

    ``customers`` is the number of people (profiles), including visitors who
    never sign up; ``activity`` scales their browsing sessions (1.0 gives
    about 70 messages per profile, 0.45 about 50; orders are not scaled).
    ``history_days`` is how far back the oldest customers go.
    """
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    if history_days < MIN_HISTORY_DAYS:
        raise ValueError(f"history_days must be at least {MIN_HISTORY_DAYS} so customers can churn, got {history_days}")
    if activity <= 0:
        raise ValueError(f"activity must be positive, got {activity}")
    now_ms = int(as_utc(now).timestamp() * 1000)
    shop = build_shop(seed, customers, now_ms, history_days, activity)
    feed = shop.feed
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / name for name in ("events.jsonl", "customers.csv", "orders.parquet", "personas.csv")}
    with paths["events.jsonl"].open("wb", buffering=1 << 20) as out:
        lines = write_messages(out, Renderer(feed), shop.delivery, shop.id_key)
    known = np.flatnonzero(feed.signed_up_at < NEVER)
    known = known[np.argsort(feed.signed_up_at[known], kind="stable")]
    write_customers(paths["customers.csv"], feed.people, known, feed.signed_up_at)
    write_orders(paths["orders.parquet"], feed.orders, feed.people, shop.sessions.profile, feed.cart_id)
    write_personas(paths["personas.csv"], feed.people, feed.devices, shop.profiles.persona)
    return DemoFiles(
        directory=directory,
        events_path=paths["events.jsonl"],
        customers_path=paths["customers.csv"],
        orders_path=paths["orders.parquet"],
        personas_path=paths["personas.csv"],
        messages=len(feed.events.time),
        duplicates=shop.delivery.duplicates,
        invalid_lines=shop.delivery.defects,
        lines=lines,
        customers=len(known),
        orders=feed.orders.size,
        profiles=shop.profiles.size,
    )


@dataclass(frozen=True)
class Shop:
    """The whole shop in memory, before it is written."""

    profiles: Profiles
    sessions: Sessions
    feed: Feed
    delivery: Delivery
    id_key: int  # keys the message ids


def build_shop(seed: int, customers: int, now_ms: int, history_days: int, activity: float) -> Shop:
    """Draw everything: who, when, what they did, how it reached the collector."""
    rng = dict(zip(STAGES, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(STAGES)))))
    catalog = make_catalog(rng["catalog"])
    profiles = sample_profiles(rng["profiles"], customers, now_ms, history_days, activity)
    sessions = plan_sessions(rng["sessions"], profiles, now_ms)
    events, carts = fill_sessions(rng["events"], sessions, profiles, catalog, now_ms)
    device = sessions.device[events.session]

    # Customers are who signed up; a device carries the userId from its first log-in on.
    signed_up_at = np.full(profiles.size, NEVER, dtype=np.int64)
    signup = events.code == Code.IDENTIFY_SIGNUP
    signed_up_at[sessions.profile[events.session[signup]]] = events.time[signup]
    devices_count = profiles.size + int(profiles.second_device.sum()) + int(profiles.newsletter.sum())
    identified_at = np.full(devices_count, NEVER, dtype=np.int64)
    logs_in = signup | (events.code == Code.IDENTIFY_LOGIN) | (events.code == Code.ALIAS)
    identified_at[device[logs_in]] = events.time[logs_in]

    people = make_people(rng["people"], profiles, signed_up_at)
    devices = make_devices(rng["devices"], profiles, identified_at)
    orders = make_orders(rng["orders"], catalog, carts.session, carts.product, carts.quantity, carts.ordered_at)
    has_cart = (sessions.visit == Visit.ORDER) | (sessions.visit == Visit.ABANDON)
    cart_uuid = iter(random_uuids(rng["carts"], int(has_cart.sum())))
    cart_id = [next(cart_uuid) if c else None for c in has_cart.tolist()]
    order_of_session = np.full(sessions.size, -1, dtype=np.int64)
    order_of_session[orders.session] = np.arange(orders.size)

    feed = Feed(events, device, devices, people, catalog, orders, cart_id, order_of_session, signed_up_at)
    delivery = plan_delivery(rng["delivery"], events, now_ms)
    return Shop(profiles, sessions, feed, delivery, int(rng["ids"].integers(0, 2**62)))


def iso_text(ms: np.ndarray) -> list[str]:
    return np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms", timezone="UTC").tolist()


def write_customers(path: Path, people: People, known: np.ndarray, signed_up_at: np.ndarray) -> None:
    signup = iso_text(signed_up_at[known])
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CUSTOMER_COLUMNS)
        for i, at in zip(known.tolist(), signup):
            city, country = CITIES[people.city[i]]
            writer.writerow((
                people.customer_id[i], people.email_on_file[i], people.first_name[i], people.last_name[i],
                people.gender[i], int(people.age[i]), city, country, at,
            ))  # fmt: skip


def write_orders(path: Path, orders: Orders, people: People, session_profile: np.ndarray, cart_id: list) -> None:
    profile = session_profile[orders.session]
    table = pa.table({
        "order_id": pa.array(orders.order_id, pa.string()),
        "customer_id": pa.array([people.customer_id[p] for p in profile.tolist()], pa.string()),
        "ordered_at": pa.array(orders.ordered_at, pa.timestamp("ms", tz="UTC")),
        "total": pa.array(orders.total, pa.float64()),
        "revenue": pa.array(orders.revenue, pa.float64()),
        "shipping": pa.array(orders.shipping, pa.float64()),
        "tax": pa.array(orders.tax, pa.float64()),
        "discount": pa.array(orders.discount, pa.float64()),
        "coupon": pa.array(orders.coupon, pa.string()),
        "currency": pa.array([CURRENCY] * orders.size, pa.string()),
        "products": pa.array(orders.products, pa.int32()),
        "category": pa.array([CATEGORY_NAMES[c] for c in orders.category.tolist()], pa.string()),
        "cart_id": pa.array([cart_id[s] for s in orders.session.tolist()], pa.string()),
    })  # fmt: skip
    pq.write_table(table, path, compression="zstd")


def write_personas(path: Path, people: People, devices: Devices, persona: np.ndarray) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("profile_id", "persona"))
        for i, p in enumerate(persona.tolist()):
            writer.writerow((people.customer_id[i] or devices.anonymous_id[i], PERSONA_NAMES[p]))
