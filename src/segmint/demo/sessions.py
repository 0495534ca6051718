"""Visits and the events inside them, drawn as columns.

A session is one visit on one device: a few browsing events (the first a
page view), then a tail that says what the visit was for: an order (view
and add each item, view the cart, start the checkout; the order itself
comes from the orders table), an abandoned cart, a sign-up or log-in, or a
newsletter form. :func:`plan_sessions` places the sessions on each
profile's timeline, :func:`fill_sessions` draws their events; both work on
every profile at once, so the cost is a few numpy passes whatever the size.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from segmint.demo.catalog import LIST_KINDS, PRODUCTS_PER_CATEGORY, Catalog, search_queries
from segmint.demo.personas import DAY_MS, HOUR_MS, MINUTE_MS, Profiles, field


class Visit(IntEnum):
    BROWSE = 0
    ABANDON = 1
    ORDER = 2
    SIGNUP = 3
    LOGIN = 4
    NEWSLETTER = 5


class Code(IntEnum):
    """What one event is; the message layer turns each into a Segment call."""

    PAGE_HOME = 0
    PAGE_CATEGORY = 1
    PAGE_PRODUCT = 2
    PAGE_SIGNUP = 3
    PAGE_LOGIN = 4
    SEARCHED = 5
    LIST_VIEWED = 6
    PRODUCT_VIEWED = 7
    PRODUCT_ADDED = 8
    PRODUCT_REMOVED = 9
    CART_VIEWED = 10
    CHECKOUT_STARTED = 11
    IDENTIFY_SIGNUP = 12
    IDENTIFY_LOGIN = 13
    ALIAS = 14
    IDENTIFY_NEWSLETTER = 15


BROWSING = (Code.PAGE_HOME, Code.PAGE_CATEGORY, Code.PAGE_PRODUCT, Code.SEARCHED, Code.LIST_VIEWED, Code.PRODUCT_VIEWED)
LANDING = ((Code.PAGE_HOME, 0.5), (Code.PAGE_CATEGORY, 0.3), (Code.PAGE_PRODUCT, 0.2))
BROWSE_MIX = (
    (Code.PAGE_CATEGORY, 0.08),
    (Code.PAGE_PRODUCT, 0.12),
    (Code.SEARCHED, 0.12),
    (Code.LIST_VIEWED, 0.20),
    (Code.PRODUCT_VIEWED, 0.48),
)
SECOND_DEVICE_SHARE = 0.4  # of the sessions after a profile's second device appears
SAFETY_MS = MINUTE_MS  # every event ends at least this long before now


@dataclass(frozen=True)
class Sessions:
    profile: np.ndarray
    device: np.ndarray
    visit: np.ndarray  # Visit
    start: np.ndarray  # ms

    @property
    def size(self) -> int:
        return len(self.profile)


@dataclass(frozen=True)
class Events:
    """One row per event, sorted by session and then by time."""

    session: np.ndarray
    code: np.ndarray  # Code
    time: np.ndarray  # ms
    product: np.ndarray  # catalogue row, -1 if none
    category: np.ndarray  # category index, -1 if none
    detail: np.ndarray  # search query (search_queries()) or list kind (LIST_KINDS), else -1
    quantity: np.ndarray


@dataclass(frozen=True)
class Carts:
    """The items of the ordered carts; one row per item, grouped by session."""

    session: np.ndarray  # the ORDER session the item was bought in
    product: np.ndarray
    quantity: np.ndarray
    ordered_at: np.ndarray  # per session (ms), -1 for sessions without an order


def ranks_within(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each of the consecutive groups of the given sizes."""
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum())) - np.repeat(starts, counts)


def between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo + (rng.random(len(lo)) * np.maximum(hi - lo, 0)).astype(np.int64)


def plan_sessions(rng: np.random.Generator, profiles: Profiles, now_ms: int) -> Sessions:
    """Place every profile's sessions on its timeline and on its devices."""
    n = profiles.size
    everyone = np.arange(n)
    owners, visits, starts = [], [], []

    def add(owner: np.ndarray, visit: np.ndarray | Visit, start: np.ndarray) -> None:
        owners.append(owner)
        visits.append(np.broadcast_to(np.asarray(visit, dtype=np.int8), owner.shape))
        starts.append(start)

    # Browsing: the first visit at first_seen, the last at last_seen, the rest between.
    count = profiles.browse_sessions
    owner = np.repeat(everyone, count)
    rank = ranks_within(count)
    start = between(rng, profiles.first_seen[owner], profiles.last_seen[owner])
    start = np.where(rank == count[owner] - 1, profiles.last_seen[owner], start)
    start = np.where(rank == 0, profiles.first_seen[owner], start)
    signs_up_first = profiles.known & (profiles.signup == profiles.first_seen)
    add(owner, np.where((rank == 0) & signs_up_first[owner], Visit.SIGNUP, Visit.BROWSE), start)
    later = np.flatnonzero(profiles.known & ~signs_up_first)
    add(later, Visit.SIGNUP, profiles.signup[later])

    # Orders: the last at last_order, the others between sign-up and it.
    count = profiles.order_count
    owner = np.repeat(everyone, count)
    start = between(rng, profiles.signup[owner] + HOUR_MS, profiles.last_order[owner])
    start = np.where(ranks_within(count) == count[owner] - 1, profiles.last_order[owner], start)
    add(owner, Visit.ORDER, start)

    owner = np.repeat(everyone, profiles.abandoned_carts)
    window = field("abandon_within_days", profiles.persona[owner]) * DAY_MS
    earliest = np.maximum(profiles.first_seen[owner], now_ms - window.astype(np.int64))
    add(owner, Visit.ABANDON, between(rng, earliest, profiles.last_seen[owner]))

    second = np.flatnonzero(profiles.second_device)
    add(second, Visit.LOGIN, profiles.second_device_at[second])
    newsletter = np.flatnonzero(profiles.newsletter)
    add(newsletter, Visit.NEWSLETTER, profiles.newsletter_at[newsletter])

    profile = np.concatenate(owners)
    visit = np.concatenate(visits)
    start = np.concatenate(starts)
    return Sessions(profile, assign_devices(rng, profiles, profile, visit, start), visit, start)


def assign_devices(
    rng: np.random.Generator, profiles: Profiles, profile: np.ndarray, visit: np.ndarray, start: np.ndarray
) -> np.ndarray:
    """Device 1 of profile i is i; second devices and newsletter devices follow."""
    n = profiles.size
    second_device = n + np.cumsum(profiles.second_device) - 1
    newsletter_device = n + int(profiles.second_device.sum()) + np.cumsum(profiles.newsletter) - 1
    movable = (visit == Visit.BROWSE) | (visit == Visit.ORDER) | (visit == Visit.ABANDON)
    on_second = (
        profiles.second_device[profile]
        & movable
        & (start > profiles.second_device_at[profile])
        & (rng.random(len(profile)) < SECOND_DEVICE_SHARE)
    )
    device = np.where(on_second | (visit == Visit.LOGIN), second_device[profile], profile)
    return np.where(visit == Visit.NEWSLETTER, newsletter_device[profile], device)


def choose(rng: np.random.Generator, options: tuple[tuple[Code, float], ...], size: int) -> np.ndarray:
    codes = np.array([code for code, _ in options], dtype=np.int8)
    weights = np.array([weight for _, weight in options])
    return rng.choice(codes, size=size, p=weights / weights.sum())


class Shelf:
    """Draws categories, products and queries the way a profile's tastes go."""

    def __init__(self, catalog: Catalog, profiles: Profiles) -> None:
        self.catalog = catalog
        self.profiles = profiles
        popularity = 1.0 / (np.arange(PRODUCTS_PER_CATEGORY) + 3.0)
        self.popularity = popularity / popularity.sum()
        by_price = [np.flatnonzero(catalog.category == c) for c in range(int(catalog.category.max()) + 1)]
        self.by_price = np.stack([rows[np.argsort(catalog.price[rows])] for rows in by_price])
        queries = np.array([c for _, c in search_queries()])
        self.query_start = np.searchsorted(queries, np.arange(len(by_price)))
        self.query_count = np.bincount(queries, minlength=len(by_price))

    def categories(self, rng: np.random.Generator, profile: np.ndarray) -> np.ndarray:
        focus = field("focus", self.profiles.persona[profile])
        favourite = self.profiles.favourite[profile, rng.integers(0, 2, len(profile))]
        anywhere = rng.integers(0, self.by_price.shape[0], len(profile))
        return np.where(rng.random(len(profile)) < focus, favourite, anywhere)

    def browsed(self, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
        slot = rng.choice(PRODUCTS_PER_CATEGORY, size=len(category), p=self.popularity)
        return category * PRODUCTS_PER_CATEGORY + slot

    def bought(self, rng: np.random.Generator, profile: np.ndarray, category: np.ndarray) -> np.ndarray:
        """Items for a cart: the premium-minded pick from the pricier half."""
        half = PRODUCTS_PER_CATEGORY // 2
        premium = rng.random(len(profile)) < field("premium", self.profiles.persona[profile])
        slot = rng.integers(0, half, len(profile)) + np.where(premium, half, 0)
        return self.by_price[category, slot]

    def queries(self, rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
        return self.query_start[category] + (rng.random(len(category)) * self.query_count[category]).astype(int)


def fill_sessions(
    rng: np.random.Generator, sessions: Sessions, profiles: Profiles, catalog: Catalog, now_ms: int
) -> tuple[Events, Carts]:
    """Draw the events of every session and the items of every order."""
    shelf = Shelf(catalog, profiles)
    persona = profiles.persona[sessions.profile]
    browse_extra = np.maximum(field("events_per_session", persona) - 2.0, 0.0)
    browse = sessions.visit == Visit.BROWSE
    pre = np.where(browse, 2 + rng.poisson(browse_extra), 1 + rng.poisson(1.0, sessions.size))
    items = cart_sizes(rng, sessions, persona)
    item_session = np.repeat(np.arange(sessions.size), items)
    buyer = sessions.profile[item_session]
    item_product = shelf.bought(rng, buyer, shelf.categories(rng, buyer))
    quantity = rng.choice(np.array([1, 2, 3], dtype=np.int8), size=len(item_session), p=[0.85, 0.12, 0.03])

    parts = [browsing_part(rng, sessions, shelf, pre)]
    item_slot = pre[item_session] + 2 * ranks_within(items)
    parts.append(part(item_session, item_slot, Code.PRODUCT_VIEWED, catalog, item_product))
    parts.append(part(item_session, item_slot + 1, Code.PRODUCT_ADDED, catalog, item_product, quantity))
    first_item = np.cumsum(items) - items  # one past the end for a last session without items
    first_product, first_quantity = np.append(item_product, -1)[first_item], np.append(quantity, 1)[first_item]
    parts += tail_parts(rng, sessions, profiles, catalog, pre + 2 * items, first_product, first_quantity)

    events = assemble(rng, parts, sessions)
    ordered_at = order_times(rng, events, sessions)
    events, ordered_at = keep_before(events, ordered_at, sessions, now_ms - SAFETY_MS)
    ordered = sessions.visit[item_session] == Visit.ORDER
    return events, Carts(item_session[ordered], item_product[ordered], quantity[ordered], ordered_at)


def cart_sizes(rng: np.random.Generator, sessions: Sessions, persona: np.ndarray) -> np.ndarray:
    """Items in each session's cart: the persona's range for orders, one or two if abandoned."""
    low, high = field("items_per_order", persona).T
    ordered = np.floor(low + rng.random(sessions.size) * (high - low + 1)).astype(np.int64)
    abandoned = 1 + (rng.random(sessions.size) < 0.3)
    return np.select([sessions.visit == Visit.ORDER, sessions.visit == Visit.ABANDON], [ordered, abandoned], 0)


def tail_parts(
    rng: np.random.Generator,
    sessions: Sessions,
    profiles: Profiles,
    catalog: Catalog,
    slot: np.ndarray,
    first_product: np.ndarray,
    first_quantity: np.ndarray,
) -> list[dict[str, np.ndarray]]:
    """What ends each session after the items, in order from ``slot`` on: viewing the
    cart, taking the first item out, checking out, or signing up / logging in."""
    visit = sessions.visit
    abandon, order = visit == Visit.ABANDON, visit == Visit.ORDER
    auth = (visit == Visit.SIGNUP) | (visit == Visit.LOGIN)
    alias = profiles.alias_login[sessions.profile] & (visit == Visit.LOGIN)
    identify = np.select(
        [visit == Visit.SIGNUP, alias, visit == Visit.LOGIN],
        [Code.IDENTIFY_SIGNUP, Code.ALIAS, Code.IDENTIFY_LOGIN],
        Code.IDENTIFY_NEWSLETTER,
    )
    steps = (
        (order | (abandon & (rng.random(sessions.size) < 0.6)), Code.CART_VIEWED),
        (abandon & (rng.random(sessions.size) < 0.2), Code.PRODUCT_REMOVED),
        (order, Code.CHECKOUT_STARTED),
        (auth, np.where(visit == Visit.SIGNUP, Code.PAGE_SIGNUP, Code.PAGE_LOGIN)),
        (auth | (visit == Visit.NEWSLETTER), identify),
    )
    parts = []
    for happens, code in steps:
        rows = np.flatnonzero(happens)
        code = code if isinstance(code, Code) else code[rows]
        if code is Code.PRODUCT_REMOVED:
            parts.append(part(rows, slot[rows], code, catalog, first_product[rows], first_quantity[rows]))
        else:
            parts.append(part(rows, slot[rows], code, catalog))
        slot = slot + happens
    return parts


def part(
    session: np.ndarray,
    slot: np.ndarray,
    code: Code | np.ndarray,
    catalog: Catalog,
    product: np.ndarray | None = None,
    quantity: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Columns of a batch of events; fields an event does not have are -1."""
    size = len(session)
    product = np.full(size, -1, dtype=np.int32) if product is None else product.astype(np.int32)
    return {
        "session": session,
        "slot": slot,
        "code": np.broadcast_to(np.asarray(code, dtype=np.int8), (size,)),
        "product": product,
        "category": np.where(product >= 0, catalog.category[product], -1).astype(np.int16),
        "detail": np.full(size, -1, dtype=np.int16),
        "quantity": np.ones(size, dtype=np.int8) if quantity is None else quantity,
    }


def browsing_part(rng: np.random.Generator, sessions: Sessions, shelf: Shelf, pre: np.ndarray) -> dict[str, np.ndarray]:
    session = np.repeat(np.arange(sessions.size), pre)
    slot = ranks_within(pre)
    code = np.where(slot == 0, choose(rng, LANDING, len(slot)), choose(rng, BROWSE_MIX, len(slot)))
    category = shelf.categories(rng, sessions.profile[session])
    shows_product = (code == Code.PRODUCT_VIEWED) | (code == Code.PAGE_PRODUCT)
    product = np.where(shows_product, shelf.browsed(rng, category), -1)
    detail = np.select(
        [code == Code.SEARCHED, code == Code.LIST_VIEWED],
        [shelf.queries(rng, category), rng.integers(0, len(LIST_KINDS), len(code))],
        -1,
    )
    return {
        "session": session,
        "slot": slot,
        "code": code.astype(np.int8),
        "product": product.astype(np.int32),
        "category": np.where(code == Code.PAGE_HOME, -1, category).astype(np.int16),
        "detail": detail.astype(np.int16),
        "quantity": np.ones(len(slot), dtype=np.int8),
    }


def assemble(rng: np.random.Generator, parts: list[dict[str, np.ndarray]], sessions: Sessions) -> Events:
    """Sort the parts into sessions and give every event its time."""
    columns = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort((columns["slot"], columns["session"]))
    columns = {key: value[order] for key, value in columns.items()}
    session, code = columns["session"], columns["code"]
    size = len(session)
    gap = 3_000 + rng.exponential(32_000.0, size)
    is_form = (code == Code.IDENTIFY_SIGNUP) | (code == Code.IDENTIFY_LOGIN) | (code == Code.IDENTIFY_NEWSLETTER)
    gap = np.where(is_form, 15_000 + rng.exponential(40_000.0, size), gap)
    gap = np.where(code == Code.CHECKOUT_STARTED, 20_000 + rng.exponential(60_000.0, size), gap)
    gap = np.where(columns["slot"] == 0, 0.0, gap).astype(np.int64)
    elapsed = np.cumsum(gap)
    first = np.searchsorted(session, session)  # row of each session's first event
    time = sessions.start[session] + elapsed - elapsed[first]
    return Events(
        session=session,
        code=code,
        time=time,
        product=columns["product"],
        category=columns["category"],
        detail=columns["detail"],
        quantity=columns["quantity"],
    )


def order_times(rng: np.random.Generator, events: Events, sessions: Sessions) -> np.ndarray:
    """An order lands a few minutes after its checkout starts (now and then much later)."""
    ordered_at = np.full(sessions.size, -1, dtype=np.int64)
    checkout = np.flatnonzero(events.code == Code.CHECKOUT_STARTED)
    slow = rng.random(len(checkout)) < 0.02
    size = len(checkout)
    delay = np.where(slow, rng.integers(35 * MINUTE_MS, 90 * MINUTE_MS, size), rng.integers(20_000, 240_000, size))
    ordered_at[events.session[checkout]] = events.time[checkout] + delay
    return ordered_at


def keep_before(
    events: Events, ordered_at: np.ndarray, sessions: Sessions, deadline: int
) -> tuple[Events, np.ndarray]:
    """Move each session that would run past the deadline back by as much as it overruns."""
    # Rows are sorted by session and time, and every session has events.
    last_row = np.searchsorted(events.session, np.arange(sessions.size), side="right") - 1
    ends = np.maximum(events.time[last_row], ordered_at)
    shift = np.maximum(ends - deadline, 0)
    moved = Events(**{**events.__dict__, "time": events.time - shift[events.session]})
    return moved, np.where(ordered_at >= 0, ordered_at - shift, -1)
