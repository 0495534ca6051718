"""The five planted personas and each profile's timeline.

A persona is a handful of ranges (when first and last seen, how many
orders, how much browsing); :func:`sample_profiles` draws one timeline per
profile from them, vectorised over all profiles at once. The ranges are
chosen so that the personas stay apart in recency / frequency / monetary /
browsing / tenure space (the product's clustering must find them again),
with enough spread inside each to look like people rather than points.

Times are integer milliseconds since the Unix epoch throughout the demo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segmint.demo.catalog import CATEGORY_NAMES

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Persona:
    """How the customers of one persona behave; day ranges count back from now."""

    name: str
    share: float  # of all profiles
    known: float  # probability of signing up (identify with a userId)
    first_seen_days: tuple[float, float]
    last_seen_days: tuple[float, float]  # the last browsing session
    quiet_before_last: float  # last seen at least this many days after first seen
    buyer: float  # probability of having ordered at all
    orders: tuple[int, int]  # inclusive range, for buyers
    last_order_days: tuple[float, float]
    last_order_from_last_seen: bool  # the range counts back from last seen, not now
    browse_sessions: tuple[int, int]  # inclusive, scaled by `activity`
    events_per_session: float  # mean browsing events in a session (at least 2)
    abandoned_carts: tuple[int, int]  # inclusive
    abandon_within_days: float  # abandoned carts fall in the last this many days
    items_per_order: tuple[int, int]
    premium: float  # probability an ordered item is from the pricier half
    focus: float  # probability an event is about one of the two favourite categories
    second_device: float
    newsletter: float  # signs up for the newsletter on another device (email only)


PERSONAS: tuple[Persona, ...] = (
    Persona(
        name="Loyal Buyers", share=0.12, known=1.0,
        first_seen_days=(240, 540), last_seen_days=(0, 6), quiet_before_last=30,
        buyer=1.0, orders=(8, 22), last_order_days=(0.5, 18), last_order_from_last_seen=False,
        browse_sessions=(6, 14), events_per_session=4.0,
        abandoned_carts=(0, 1), abandon_within_days=540,
        items_per_order=(2, 4), premium=0.8, focus=0.8, second_device=0.35, newsletter=0.05,
    ),
    Persona(
        name="Window Shoppers", share=0.24, known=1.0,
        first_seen_days=(60, 450), last_seen_days=(0, 12), quiet_before_last=30,
        buyer=0.06, orders=(1, 1), last_order_days=(200, 540), last_order_from_last_seen=False,
        browse_sessions=(9, 18), events_per_session=5.0,
        abandoned_carts=(1, 4), abandon_within_days=90,
        items_per_order=(1, 1), premium=0.2, focus=0.15, second_device=0.25, newsletter=0.08,
    ),
    Persona(
        name="Occasional Buyers", share=0.27, known=1.0,
        first_seen_days=(150, 540), last_seen_days=(0, 25), quiet_before_last=30,
        buyer=1.0, orders=(1, 3), last_order_days=(2, 60), last_order_from_last_seen=False,
        browse_sessions=(3, 7), events_per_session=3.0,
        abandoned_carts=(0, 1), abandon_within_days=540,
        items_per_order=(1, 2), premium=0.15, focus=0.7, second_device=0.2, newsletter=0.08,
    ),
    Persona(
        name="New Visitors", share=0.17, known=0.4,
        first_seen_days=(0.05, 14), last_seen_days=(0, 14), quiet_before_last=0,
        buyer=0.0, orders=(0, 0), last_order_days=(0, 0), last_order_from_last_seen=False,
        browse_sessions=(1, 3), events_per_session=2.5,
        abandoned_carts=(0, 0), abandon_within_days=14,
        items_per_order=(1, 1), premium=0.2, focus=0.6, second_device=0.0, newsletter=0.0,
    ),
    Persona(
        name="Churned Customers", share=0.20, known=1.0,
        first_seen_days=(300, 540), last_seen_days=(190, 420), quiet_before_last=60,
        buyer=1.0, orders=(3, 8), last_order_days=(0, 30), last_order_from_last_seen=True,
        browse_sessions=(5, 11), events_per_session=3.5,
        abandoned_carts=(0, 1), abandon_within_days=540,
        items_per_order=(1, 3), premium=0.45, focus=0.7, second_device=0.2, newsletter=0.08,
    ),
)  # fmt: skip
PERSONA_NAMES: tuple[str, ...] = tuple(p.name for p in PERSONAS)
MIN_HISTORY_DAYS = 450  # churned customers need a past long enough to churn from
FULL_HISTORY = 540  # a first_seen range reaching this far stretches to the whole history


@dataclass(frozen=True)
class Profiles:
    """One row per profile (a person), in parallel arrays; times in ms."""

    persona: np.ndarray  # int index into PERSONAS
    known: np.ndarray  # bool: signs up, so has a customer_id
    first_seen: np.ndarray
    last_seen: np.ndarray
    signup: np.ndarray  # planned sign-up session start (known profiles)
    order_count: np.ndarray
    last_order: np.ndarray  # planned start of the last order session (buyers)
    browse_sessions: np.ndarray
    abandoned_carts: np.ndarray
    favourite: np.ndarray  # (n, 2) category indices
    second_device: np.ndarray  # bool
    second_device_at: np.ndarray  # planned log-in session start on the second device
    alias_login: np.ndarray  # bool: that log-in is an alias call, not an identify
    newsletter: np.ndarray  # bool
    newsletter_at: np.ndarray

    @property
    def size(self) -> int:
        return len(self.persona)


def field(name: str, persona: np.ndarray) -> np.ndarray:
    """A persona parameter spread over profiles; ranges come back as shape (n, 2)."""
    return np.array([getattr(p, name) for p in PERSONAS], dtype=float)[persona]


def assign_personas(rng: np.random.Generator, n: int) -> np.ndarray:
    """Exactly the personas' shares of ``n`` (largest remainders), shuffled."""
    shares = np.array([p.share for p in PERSONAS])
    exact = shares / shares.sum() * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact)[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(PERSONAS)), counts))


def uniform(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo + rng.random(len(lo)) * (hi - lo)


def integers(rng: np.random.Generator, bounds: np.ndarray) -> np.ndarray:
    """A uniform integer in each row's inclusive [lo, hi]."""
    return np.floor(uniform(rng, bounds[:, 0], bounds[:, 1] + 1)).astype(np.int64)


def sample_profiles(
    rng: np.random.Generator, n: int, now_ms: int, history_days: float, activity: float
) -> Profiles:
    """Draw every profile's persona and planned timeline."""
    persona = assign_personas(rng, n)
    horizon = history_days - 1.0
    first_range = field("first_seen_days", persona)
    first_range = np.where(first_range >= FULL_HISTORY, horizon, np.minimum(first_range, horizon))
    first_days = uniform(rng, first_range[:, 0], first_range[:, 1])
    last_range = field("last_seen_days", persona)
    last_hi = np.minimum(last_range[:, 1], first_days - field("quiet_before_last", persona))
    last_days = uniform(rng, last_range[:, 0], np.maximum(last_hi, last_range[:, 0]))

    known = rng.random(n) < field("known", persona)
    # Two in three sign up in their first session; the rest come back to do it.
    later = np.where(rng.random(n) < 0.35, rng.uniform(1.0, 30.0, n), 0.0)
    signup_days = np.maximum(first_days - later, last_days)

    last_order_range = field("last_order_days", persona)
    anchor = np.where(field("last_order_from_last_seen", persona) > 0, last_days, 0.0)
    order_hi = np.minimum(anchor + last_order_range[:, 1], signup_days - 0.05)
    order_lo = anchor + last_order_range[:, 0]
    buyer = known & (rng.random(n) < field("buyer", persona)) & (order_hi > order_lo)
    order_count = np.where(buyer, integers(rng, field("orders", persona)), 0)
    last_order_days = uniform(rng, order_lo, np.maximum(order_hi, order_lo))

    browse = np.maximum(np.rint(integers(rng, field("browse_sessions", persona)) * activity), 1)
    favourite = rng.integers(0, len(CATEGORY_NAMES), size=(n, 2))
    second = known & (rng.random(n) < field("second_device", persona)) & (signup_days - last_days > 2)
    second_days = uniform(rng, last_days, signup_days - 1.0)
    newsletter = known & (rng.random(n) < field("newsletter", persona))
    newsletter_days = uniform(rng, last_days, first_days)

    def at(days: np.ndarray) -> np.ndarray:
        return now_ms - np.rint(days * DAY_MS).astype(np.int64)

    return Profiles(
        persona=persona,
        known=known,
        first_seen=at(first_days),
        last_seen=at(last_days),
        signup=at(signup_days),
        order_count=order_count,
        last_order=at(last_order_days),
        browse_sessions=browse.astype(np.int64),
        abandoned_carts=integers(rng, field("abandoned_carts", persona)),
        favourite=favourite,
        second_device=second,
        second_device_at=at(second_days),
        alias_login=second & (rng.random(n) < 0.15),
        newsletter=newsletter,
        newsletter_at=at(newsletter_days),
    )
