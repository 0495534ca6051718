"""Turn event rows into Segment-spec messages, with the noise of a real feed.

A real collection endpoint sees more than clean calls: retries that repeat
a message verbatim, mobile batches that arrive hours late, devices whose
clock is off (so the message has ``originalTimestamp``/``sentAt`` instead of
a ``timestamp``), and the odd broken message. :func:`plan_delivery` decides
which lines get which of these, as columns; :func:`write_messages` renders
the file in chunks with orjson, reusing pre-serialised fragments for the
parts that repeat (product properties, pages).
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import IntEnum
from typing import IO, Any

import numpy as np
import orjson

from segmint.demo.catalog import (
    CATEGORY_NAMES,
    CURRENCY,
    LIST_KINDS,
    SHOP_NAME,
    SHOP_URL,
    USER_AGENTS,
    Catalog,
    search_queries,
)
from segmint.demo.orders import Orders
from segmint.demo.people import NEVER, Devices, People, uuid4_strings
from segmint.demo.sessions import Code, Events


def serialised(value: Any) -> bytes:
    """orjson's output, copied to a bytes object of its own size.

    orjson hands back bytes that keep a ~4 KB buffer; a table of a million
    of them would hold gigabytes.
    """
    return memoryview(orjson.dumps(value)).tobytes()


def fragment(value: Any) -> orjson.Fragment:
    """Pre-serialised JSON that orjson embeds as it is."""
    return orjson.Fragment(serialised(value))


LIBRARY = fragment({"name": "analytics.js", "version": "next-1.76.0"})
SERVER_CONTEXT = fragment({"library": {"name": "analytics-python", "version": "2.3.3"}})
CHUNK = 100_000  # lines rendered and written at a time


class Stamp(IntEnum):
    """Which time fields a message carries."""

    PLAIN = 0  # timestamp only
    SENT = 1  # timestamp, originalTimestamp, sentAt, receivedAt
    SKEWED = 2  # no timestamp: originalTimestamp and sentAt from a wrong clock, receivedAt


class Defect(IntEnum):
    NONE = 0
    NO_EVENT = 1  # a track without `event`
    NO_IDS = 2  # neither userId nor anonymousId
    BAD_TIMESTAMP = 3  # a timestamp that is not ISO-8601
    NOT_JSON = 4  # a line cut short


@dataclass(frozen=True)
class Noise:
    """How much of the feed is noisy; each count has a floor so small demos show it."""

    sent: float = 0.12
    skewed: float = 0.0005
    late: float = 0.003
    duplicate: float = 0.0005
    defect: float = 0.00005  # per kind of defect
    floor: int = 3


@dataclass(frozen=True)
class Delivery:
    """The file, line by line, plus per-event time fields."""

    row: np.ndarray  # the event each line renders (the template, for a broken line)
    defect: np.ndarray  # Defect
    id_key: np.ndarray  # what the line's messageId is derived from
    stamp: np.ndarray  # per event: Stamp
    sent: np.ndarray  # per event, ms (true clock)
    received: np.ndarray  # per event, ms
    skew: np.ndarray  # per event, ms the device clock is behind
    duplicates: int
    defects: int


def how_many(rate: float, n: int, floor: int) -> int:
    return min(n, max(floor, int(round(rate * n))))


def plan_delivery(rng: np.random.Generator, events: Events, now_ms: int, noise: Noise = Noise()) -> Delivery:
    """Choose the noisy lines and the order of the file."""
    n = len(events.time)

    def pick(rate: float) -> np.ndarray:
        return rng.choice(n, how_many(rate, n, noise.floor), replace=False)

    stamp = np.where(rng.random(n) < noise.sent, Stamp.SENT, Stamp.PLAIN).astype(np.int8)
    late = pick(noise.late)
    stamp[late] = Stamp.SENT
    stamp[pick(noise.skewed)] = Stamp.SKEWED
    sent = events.time + rng.integers(150, 5_000, n)
    sent[late] = np.minimum(events.time[late] + rng.integers(10 * 60_000, 36 * 3_600_000, len(late)), now_ms - 2_000)
    received = sent + rng.integers(20, 400, n)
    skew = np.where(stamp == Stamp.SKEWED, rng.choice([-1, 1], n) * rng.integers(60_000, 3 * 3_600_000, n), 0)
    arrival = np.where(stamp == Stamp.PLAIN, events.time, received)

    duplicate = pick(noise.duplicate)
    trackable = np.flatnonzero(events.code >= Code.SEARCHED)
    trackable = trackable[events.code[trackable] <= Code.CHECKOUT_STARTED]
    broken_kinds = [Defect.NO_EVENT, Defect.NO_IDS, Defect.BAD_TIMESTAMP, Defect.NOT_JSON]
    broken_count = how_many(noise.defect, n, 1)
    template = rng.choice(trackable, len(broken_kinds) * broken_count)
    defect = np.repeat(np.array(broken_kinds, dtype=np.int8), broken_count)

    row = np.concatenate([np.arange(n), duplicate, template])
    defects = np.concatenate([np.zeros(n + len(duplicate), dtype=np.int8), defect])
    id_key = np.concatenate([np.arange(n), duplicate, n + np.arange(len(template))])
    when = np.concatenate([
        arrival,
        arrival[duplicate] + rng.integers(1_000, 120_000, len(duplicate)),
        arrival[template] + rng.integers(0, 10_000, len(template)),
    ])  # fmt: skip
    order = np.argsort(when, kind="stable")
    return Delivery(
        row[order], defects[order], id_key[order], stamp, sent, received, skew, len(duplicate), len(template)
    )


def iso(ms: np.ndarray) -> list[str]:
    """ISO-8601 UTC with milliseconds and a Z, for a whole column at once."""
    return np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms", timezone="UTC").tolist()


def keyed_uuids(key: int, index: np.ndarray) -> list[str]:
    """UUID4-shaped ids that depend only on (key, index): random access, no storage."""

    def splitmix(x: np.ndarray) -> np.ndarray:
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))

    with np.errstate(over="ignore"):
        base = index.astype(np.uint64) * np.uint64(2) + np.uint64(key)
        halves = np.stack([splitmix(base), splitmix(base + np.uint64(1))], axis=1)
    return uuid4_strings(halves.astype(">u8").view(np.uint8).reshape(len(index), 16))


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    title: str

    def context(self) -> bytes:
        return serialised({"path": self.path, "url": SHOP_URL + self.path})

    def properties(self) -> bytes:
        return serialised({"path": self.path, "url": SHOP_URL + self.path, "title": self.title})


class Pages:
    """Every page of the shop, numbered: five fixed ones, then categories, products, searches, lists."""

    HOME, CART, CHECKOUT, SIGNUP, LOGIN = range(5)  # the fixed pages come first

    def __init__(self, catalog: Catalog) -> None:
        queries = search_queries()
        pages = [
            Page("Home", "/", f"{SHOP_NAME} | Clothing, Outdoor & Home"),
            Page("Cart", "/cart", f"Your Cart | {SHOP_NAME}"),
            Page("Checkout", "/checkout", f"Checkout | {SHOP_NAME}"),
            Page("Sign Up", "/account/signup", f"Create an Account | {SHOP_NAME}"),
            Page("Log In", "/account/login", f"Log In | {SHOP_NAME}"),
        ]
        pages += [Page("Category", f"/c/{c}", f"{c.title()} | {SHOP_NAME}") for c in CATEGORY_NAMES]
        pages += [
            Page("Product", f"/p/{catalog.slug[p]}", f"{catalog.brand[p]} {catalog.name[p]} | {SHOP_NAME}")
            for p in range(catalog.size)
        ]
        pages += [Page("Search", f"/search?q={q.replace(' ', '+')}", f"Search: {q} | {SHOP_NAME}") for q, _ in queries]
        pages += [
            Page("Category", f"/c/{c}?list={kind}", f"{c.title()} {kind.replace('-', ' ').title()} | {SHOP_NAME}")
            for c in CATEGORY_NAMES
            for kind in LIST_KINDS
        ]
        self.name = objects(p.name for p in pages)
        self.context = [p.context() for p in pages]  # serialised {"path", "url"}
        self.properties = objects(orjson.Fragment(p.properties()) for p in pages)
        self.category_at = self.LOGIN + 1
        self.product_at = self.category_at + len(CATEGORY_NAMES)
        self.search_at = self.product_at + catalog.size
        self.list_at = self.search_at + len(queries)

    def of(self, code: np.ndarray, product: np.ndarray, category: np.ndarray, detail: np.ndarray) -> np.ndarray:
        """The page each event happened on."""
        fixed = {
            Code.PAGE_SIGNUP: self.SIGNUP, Code.IDENTIFY_SIGNUP: self.SIGNUP,
            Code.PAGE_LOGIN: self.LOGIN, Code.IDENTIFY_LOGIN: self.LOGIN, Code.ALIAS: self.LOGIN,
            Code.CART_VIEWED: self.CART, Code.PRODUCT_REMOVED: self.CART, Code.CHECKOUT_STARTED: self.CHECKOUT,
        }  # fmt: skip
        page = np.full(len(code), self.HOME, dtype=np.int64)  # the newsletter form is in the footer
        for c, at in fixed.items():
            page[code == c] = at
        page = np.where(code == Code.PAGE_CATEGORY, self.category_at + category, page)
        on_product = (code == Code.PAGE_PRODUCT) | (code == Code.PRODUCT_VIEWED) | (code == Code.PRODUCT_ADDED)
        page = np.where(on_product, self.product_at + product, page)
        page = np.where(code == Code.SEARCHED, self.search_at + detail, page)
        return np.where(code == Code.LIST_VIEWED, self.list_at + category * len(LIST_KINDS) + detail, page)


@dataclass(frozen=True)
class Feed:
    """Everything a message is rendered from."""

    events: Events
    device: np.ndarray  # per event
    devices: Devices
    people: People
    catalog: Catalog
    orders: Orders
    cart_id: list[str | None]  # per session
    order_of_session: np.ndarray  # per session, -1 if none
    signed_up_at: np.ndarray  # per profile, ms


class Renderer:
    """Renders event rows into message dicts.

    The parts that repeat (a device's ids, a page, a product's properties,
    an order) are serialised once and looked up for a whole chunk with
    numpy; cart properties are joined from serialised pieces the same way.
    Only the message dict itself, and identify traits, are built per row.
    """

    TRACKS = {
        Code.SEARCHED: "Products Searched",
        Code.LIST_VIEWED: "Product List Viewed",
        Code.PRODUCT_VIEWED: "Product Viewed",
        Code.PRODUCT_ADDED: "Product Added",
        Code.PRODUCT_REMOVED: "Product Removed",
        Code.CART_VIEWED: "Cart Viewed",
        Code.CHECKOUT_STARTED: "Checkout Started",
    }

    def __init__(self, feed: Feed) -> None:
        self.feed = feed
        self.pages = Pages(feed.catalog)
        catalog, devices, people = feed.catalog, feed.devices, feed.people
        product = [
            {
                "product_id": catalog.product_id[p],
                "sku": catalog.sku[p],
                "category": CATEGORY_NAMES[catalog.category[p]],
                "name": catalog.name[p],
                "brand": catalog.brand[p],
                "price": float(catalog.price[p]),
            }
            for p in range(catalog.size)
        ]
        self.viewed = objects(fragment({**p, "currency": CURRENCY}) for p in product)
        self.searched = objects(fragment({"query": q}) for q, _ in search_queries())
        self.listed = objects(
            fragment({"list_id": f"{c}-{kind}", "category": c})
            for c in CATEGORY_NAMES
            for kind in LIST_KINDS
        )
        self.label = objects(self.TRACKS.get(Code(c)) for c in Code)  # type: ignore[call-overload]
        self.kind = objects(
            "page" if c <= Code.PAGE_LOGIN else "track" if c <= Code.CHECKOUT_STARTED else "identify" for c in Code
        )
        self.kind[Code.ALIAS] = "alias"
        self.label_key = objects(
            "name" if c <= Code.PAGE_LOGIN else "event" if c <= Code.CHECKOUT_STARTED else None for c in Code
        )
        self.anonymous_id = objects(devices.anonymous_id)
        self.user_id = objects(people.customer_id[o] for o in devices.owner.tolist())
        # A device's context up to its page: {"ip":..,"userAgent":..,"library":..,"page":
        self.context_head = objects(
            orjson.dumps({"ip": ip, "userAgent": USER_AGENTS[ua], "library": LIBRARY})[:-1] + b',"page":'
            for ip, ua in zip(devices.ip, devices.user_agent.tolist())
        )
        self.context_tail = objects(c + b"}" for c in self.pages.context)
        # Cart properties are joined from serialised pieces:
        # {"cart_id":"..."  +  ,"product_id":..,"price":..  +  ,"quantity":n}
        self.cart_head = objects(orjson.dumps({"cart_id": c})[:-1] if c else None for c in feed.cart_id)
        self.product_fields = objects(b"," + orjson.dumps(p)[1:-1] for p in product)
        self.quantity_tail = objects(b',"quantity":%d}' % q for q in range(int(feed.events.quantity.max()) + 1))
        orders = feed.orders
        self.checkout = objects(
            fragment({"order_id": order_id, "value": value, "revenue": revenue, "currency": CURRENCY})
            for order_id, value, revenue in zip(orders.order_id, orders.subtotal.tolist(), orders.revenue.tolist())
        )
        created = iso(np.where(feed.signed_up_at < NEVER, feed.signed_up_at, 0))
        self.signup_traits = [
            fragment({
                "email": people.email[i], "first_name": people.first_name[i],
                "last_name": people.last_name[i], "created_at": created[i],
            })
            if people.email[i] else None
            for i in range(len(people.email))
        ]  # fmt: skip

    def chunk(self, delivery: Delivery, lines: slice, id_key: int) -> Iterator[dict[str, Any] | bytes]:
        """The messages of a run of lines (broken ones included), in file order."""
        feed, events, pages = self.feed, self.feed.events, self.pages
        rows = delivery.row[lines]
        code, time, device = events.code[rows], events.time[rows], feed.device[rows]
        page = pages.of(code, events.product[rows], events.category[rows], events.detail[rows])
        user_id = np.where(time >= feed.devices.identified_at[device], self.user_id[device], None)
        is_page = code <= Code.PAGE_LOGIN
        label = np.where(is_page, pages.name[page], self.label[code])
        body = self.bodies(rows, code, device, page)
        context = map(orjson.Fragment, self.context_head[device] + self.context_tail[page])
        stamp = delivery.stamp[rows]
        times = self.stamps(delivery, rows[stamp != Stamp.PLAIN])
        columns = zip(
            self.kind[code].tolist(), keyed_uuids(id_key, delivery.id_key[lines]), self.anonymous_id[device].tolist(),
            user_id.tolist(), self.label_key[code].tolist(), label.tolist(), body.tolist(), context, iso(time),
            stamp.tolist(), delivery.defect[lines].tolist(), time.tolist(),
        )  # fmt: skip
        plain = int(Stamp.PLAIN)  # a local int: comparing with the enum member is slow in the loop
        for kind, message_id, anonymous_id, user_id_, label_key, label_, body_, context_, timestamp, *rest in columns:
            stamp_, defect, ms = rest
            if label_key is not None:  # the common case: a track or a page call
                if user_id_ is None:
                    message = {
                        "type": kind, "messageId": message_id, "anonymousId": anonymous_id,
                        label_key: label_, "properties": body_, "context": context_,
                    }  # fmt: skip
                else:
                    message = {
                        "type": kind, "messageId": message_id, "anonymousId": anonymous_id, "userId": user_id_,
                        label_key: label_, "properties": body_, "context": context_,
                    }  # fmt: skip
            elif kind == "identify":
                message = {"type": kind, "messageId": message_id, "anonymousId": anonymous_id}
                if user_id_ is not None:
                    message["userId"] = user_id_
                message.update(traits=body_, context=context_)
            else:
                message = {
                    "type": kind, "messageId": message_id, "previousId": anonymous_id, "userId": user_id_,
                    "context": SERVER_CONTEXT,
                }  # fmt: skip
            if stamp_ == plain:
                message["timestamp"] = timestamp
            else:
                original, sent, received = next(times)
                if stamp_ == Stamp.SENT:
                    message.update(timestamp=timestamp, originalTimestamp=timestamp, sentAt=sent, receivedAt=received)
                else:
                    message.update(originalTimestamp=original, sentAt=sent, receivedAt=received)
            yield break_message(message, Defect(defect), ms) if defect else message

    def bodies(self, rows: np.ndarray, code: np.ndarray, device: np.ndarray, page: np.ndarray) -> np.ndarray:
        """The properties (or traits) of each event row, as serialised fragments where possible."""
        events = self.feed.events
        body = np.where(code <= Code.PAGE_LOGIN, self.pages.properties[page], None)
        for wanted, table, index in (
            (Code.PRODUCT_VIEWED, self.viewed, events.product[rows]),
            (Code.SEARCHED, self.searched, events.detail[rows]),
            (Code.LIST_VIEWED, self.listed, events.category[rows] * len(LIST_KINDS) + events.detail[rows]),
        ):
            at = np.flatnonzero(code == wanted)
            body[at] = table[index[at]]
        session = events.session[rows]
        at = np.flatnonzero((code == Code.PRODUCT_ADDED) | (code == Code.PRODUCT_REMOVED))
        parts = self.cart_head[session[at]] + self.product_fields[events.product[rows[at]]]
        body[at] = objects(map(orjson.Fragment, parts + self.quantity_tail[events.quantity[rows[at]]]))
        at = np.flatnonzero(code == Code.CART_VIEWED)
        body[at] = objects(map(orjson.Fragment, self.cart_head[session[at]] + b"}"))
        at = np.flatnonzero(code == Code.CHECKOUT_STARTED)
        body[at] = self.checkout[self.feed.order_of_session[session[at]]]
        for at in np.flatnonzero(code >= Code.IDENTIFY_SIGNUP).tolist():
            body[at] = self.traits(int(code[at]), int(device[at]))
        return body

    def stamps(self, delivery: Delivery, rows: np.ndarray) -> Iterator[tuple[str, str, str]]:
        """originalTimestamp, sentAt, receivedAt of the given rows; the first two by the device's clock."""
        skew = delivery.skew[rows]
        original = iso(self.feed.events.time[rows] - skew)
        return zip(original, iso(delivery.sent[rows] - skew), iso(delivery.received[rows]))

    def traits(self, code: int, device: int) -> Any:
        """The traits of an identify call (None for an alias)."""
        owner = int(self.feed.devices.owner[device])
        people = self.feed.people
        if code == Code.IDENTIFY_SIGNUP:
            return self.signup_traits[owner]
        if code == Code.IDENTIFY_LOGIN:
            return {"email": people.email[owner]}
        if code == Code.IDENTIFY_NEWSLETTER:
            return {"email": people.email_on_newsletter[owner], "newsletter_opt_in": True}
        return None


def objects(items: Any) -> np.ndarray:
    """A numpy array of Python objects, for lookups by index arrays."""
    values = list(items)
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def break_message(message: dict[str, Any], defect: Defect, ms: int) -> dict[str, Any] | bytes:
    """Spoil a valid message the way real feeds are spoilt."""
    if defect == Defect.NO_EVENT:
        return {key: value for key, value in message.items() if key != "event"}
    if defect == Defect.NO_IDS:
        return {key: value for key, value in message.items() if key not in ("userId", "anonymousId")}
    if defect == Defect.BAD_TIMESTAMP:
        moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
        formats = (email.utils.format_datetime(moment, usegmt=True), moment.strftime("%d/%m/%Y %H:%M:%S"), "yesterday")
        dropped = ("originalTimestamp", "sentAt", "receivedAt")
        spoilt = {key: value for key, value in message.items() if key not in dropped}
        return {**spoilt, "timestamp": formats[ms % len(formats)]}
    whole = orjson.dumps(message)
    return whole[: len(whole) // 2]


def write_messages(out: IO[bytes], renderer: Renderer, delivery: Delivery, id_key: int) -> int:
    """Render every line of the delivery into ``out``; returns the number of lines.

    Lines go straight to the (buffered) file: holding a chunk's lines in a
    list first costs twice the time in fresh memory.
    """
    write, dumps, newline = out.write, orjson.dumps, orjson.OPT_APPEND_NEWLINE
    total = len(delivery.row)
    for start in range(0, total, CHUNK):
        for message in renderer.chunk(delivery, slice(start, start + CHUNK), id_key):
            write(message + b"\n" if isinstance(message, bytes) else dumps(message, option=newline))
    return total
