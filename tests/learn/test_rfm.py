"""RFM scores and segments equal a plain-Python reference; the table in the docs is the one in the code."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import product
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.config.model import DEFAULT_RFM_SEGMENTS, IdentityConfig, RfmConfig, RfmRule
from segmint.identity.profiles import rebuild
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.learn.rfm import COLUMNS, rfm_grid, rfm_matrix, rfm_scores
from segmint.store.store import Store

AS_OF = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
DOCS = Path(__file__).parents[2] / "docs" / "rfm.md"


# ---- the reference: plain Python, no SQL, no pandas -------------------------------------------


@dataclass(frozen=True)
class Order:
    customer: int  # the person, with a userId u<customer> and a device d<customer>
    sent_as: str  # "user" (userId), "device" (anonymousId only: before logging in) or "both"
    event: str
    time: datetime
    properties: dict[str, Any]


def order_cents(properties: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    """The first of ``keys`` holding a JSON number, in cents (the tests only use whole cents)."""
    for key in keys:
        value = properties.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return round(value * 100)
    return None


def score(values: dict[str, Any], worse: Any) -> dict[str, int]:
    """1 + floor(5 * (customers strictly worse) / customers), straight from the docs."""
    n = len(values)
    return {p: 1 + 5 * sum(1 for other in values.values() if worse(other, v)) // n for p, v in values.items()}


def name(r: int, f: int, m: int, rules: tuple[RfmRule, ...], other: str) -> str:
    for rule in rules:
        if all(lo <= s <= hi for s, (lo, hi) in zip((r, f, m), (rule.recency, rule.frequency, rule.monetary))):
            return rule.name
    return other


def reference(
    orders: list[Order], profile_of: Callable[[Order], str], config: RfmConfig, as_of: datetime
) -> dict[str, dict[str, Any]]:
    mine: dict[str, list[Order]] = {}
    for order in orders:
        if order.event in config.events and order.time <= as_of:
            mine.setdefault(profile_of(order), []).append(order)
    recency = {p: (as_of - max(o.time for o in os)) // timedelta(days=1) for p, os in mine.items()}
    frequency = {p: len(os) for p, os in mine.items()}
    cents = {p: [c for o in os if (c := order_cents(o.properties, config.value)) is not None] for p, os in mine.items()}
    if config.monetary == "sum":
        monetary = {p: sum(cs) / 100 for p, cs in cents.items()}
    else:  # only used with averages that are whole cents
        monetary = {p: (sum(cs) / len(os) / 100) for (p, cs), os in zip(cents.items(), mine.values())}
    r = score(recency, lambda other, mine_: other > mine_)
    f = score(frequency, lambda other, mine_: other < mine_)
    m = score(monetary, lambda other, mine_: other < mine_)
    return {
        p: {
            "recency_days": recency[p],
            "frequency": frequency[p],
            "monetary": monetary[p],
            "rfm_recency": r[p],
            "rfm_frequency": f[p],
            "rfm_monetary": m[p],
            "rfm_score": f"{r[p]}{f[p]}{m[p]}",
            "rfm_segment": name(r[p], f[p], m[p], config.segments, config.other),
        }
        for p in mine
    }


# ---- the store under test -----------------------------------------------------------------------


def messages(orders: list[Order], devices: set[int]) -> list[str]:
    """Orders as Segment track calls, plus one identify per device linking it to its customer."""
    out = []
    for i, o in enumerate(orders):
        ids = {"userId": f"u{o.customer}", "anonymousId": f"d{o.customer}"}
        ids = {k: v for k, v in ids.items() if o.sent_as == "both" or (k == "userId") == (o.sent_as == "user")}
        out.append({"type": "track", "event": o.event, "properties": o.properties, "timestamp": _iso(o.time),
                    "messageId": f"o{i}", **ids})
    for c in sorted(devices):
        out.append({"type": "identify", "userId": f"u{c}", "anonymousId": f"d{c}", "messageId": f"id{c}",
                    "timestamp": _iso(AS_OF + timedelta(days=30))})  # linked only later: still one customer
    return [orjson.dumps(m).decode() for m in out]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# ---- strategies ---------------------------------------------------------------------------------

VALUE_KEYS = ("total", "revenue")
cents = st.sampled_from([0, 999, 1000, 2550, 4999, 12000, 33333])  # few values: many ties
money = st.one_of(cents.map(lambda c: c / 100), cents.filter(lambda c: c % 100 == 0).map(lambda c: c // 100))
not_money = st.sampled_from([None, "12.50", True, {"amount": 3}])


@st.composite
def order_properties(draw: st.DrawFn) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key in VALUE_KEYS:
        kind = draw(st.sampled_from(["money", "other", "absent"]))
        if kind == "money":
            properties[key] = draw(money)
        elif kind == "other":
            properties[key] = draw(not_money)
    return properties


@st.composite
def order_sets(draw: st.DrawFn) -> tuple[list[Order], set[int]]:
    customers = draw(st.integers(1, 9))
    orders = []
    for customer in range(customers):
        for _ in range(draw(st.integers(0, 5))):
            days = draw(st.sampled_from([0, 1, 3, 40, 41, 200, 400]))
            seconds = draw(st.sampled_from([-7200, -1, 0, 3600]))  # after as_of too, and across day boundaries
            orders.append(
                Order(
                    customer,
                    draw(st.sampled_from(["user", "device", "both"])),
                    draw(st.sampled_from(["Order Completed", "Order Completed", "Checkout Started"])),
                    AS_OF - timedelta(days=days, seconds=seconds),
                    draw(order_properties()),
                )
            )
    logged_in = set(draw(st.lists(st.integers(0, customers - 1), unique=True)))
    return orders, logged_in


score_range = st.tuples(st.integers(1, 5), st.integers(1, 5)).map(sorted).map(tuple)
rule_tables = st.lists(
    st.builds(lambda i, r, f, m: RfmRule(name=f"s{i}", recency=r, frequency=f, monetary=m),
              st.integers(0, 9), score_range, score_range, score_range),
    max_size=4, unique_by=lambda rule: rule.name,
)
configs = st.one_of(
    st.just(RfmConfig()),
    st.builds(lambda rules, keys: RfmConfig(segments=tuple(rules), value=keys, other="Unnamed"),
              rule_tables, st.sampled_from([("total", "revenue"), ("revenue",), ("revenue", "total")])),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=order_sets(), config=configs)
def test_scores_and_segments_equal_the_reference(tmp_path_factory, data, config):
    orders, logged_in = data
    with Store(tmp_path_factory.mktemp("rfm") / "s.duckdb") as store:
        devices = {o.customer for o in orders if o.sent_as == "device"} & logged_in
        result = Ingestor(store).ingest(stage(messages(orders, devices), Arrival("web", AS_OF, "test")))
        assert result.failed == 0
        rebuild(store.connection, IdentityConfig())
        got = rfm_scores(store, config, AS_OF)

    # A device linked to its customer's userId (by a later identify, or by an order sent with
    # both ids) belongs to that customer; a device never linked is a profile of its own.
    linked = logged_in | {o.customer for o in orders if o.sent_as == "both"}

    def profile(o: Order) -> str:
        return f"d{o.customer}" if o.sent_as == "device" and o.customer not in linked else f"u{o.customer}"

    want = reference(orders, profile, config, AS_OF)

    assert list(got.columns) == list(COLUMNS)
    assert sorted(got["profile_id"]) == sorted(want)
    for row in got.to_dict(orient="records"):
        expected = want[row["profile_id"]]
        assert {k: row[k] for k in expected} == expected, row["profile_id"]


# ---- properties of the rule, and the docs ------------------------------------------------------


def test_the_standard_table_names_every_cell_and_every_segment_is_reachable():
    named = {(r, f, m): name(r, f, m, DEFAULT_RFM_SEGMENTS, "none") for r, f, m in product(range(1, 6), repeat=3)}
    assert "none" not in named.values()
    assert set(named.values()) == {rule.name for rule in DEFAULT_RFM_SEGMENTS}
    assert len(DEFAULT_RFM_SEGMENTS) == 11
    assert named[5, 5, 5] == "Champions" and named[1, 1, 1] == "Lost" and named[1, 5, 5] == "Cannot Lose Them"


def test_the_table_in_the_docs_is_the_default_table():
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*([\d–-]+)\s*\|\s*([\d–-]+)\s*\|\s*([\d–-]+)\s*\|", DOCS.read_text(), re.M)

    def span(text: str) -> tuple[int, int]:
        parts = [int(p) for p in re.split("[–-]", text)]
        return (parts[0], parts[-1])

    documented = [(n, span(r), span(f), span(m)) for _, n, r, f, m in rows]
    assert documented == [(x.name, x.recency, x.frequency, x.monetary) for x in DEFAULT_RFM_SEGMENTS]


def _orders_store(store: Store, rows: list[tuple[str, int, float]]) -> None:
    raws = [
        orjson.dumps({"type": "track", "event": "Order Completed", "userId": user, "messageId": f"m{i}",
                      "timestamp": _iso(AS_OF - timedelta(days=days)), "properties": {"total": total}}).decode()
        for i, (user, days, total) in enumerate(rows)
    ]
    Ingestor(store).ingest(stage(raws, Arrival("web", AS_OF, "test")))
    rebuild(store.connection, IdentityConfig())


def test_equal_values_get_equal_scores_and_the_lowest_scores_one(store):
    # Ten customers: six one-time buyers, then 2, 3, 4, 5 orders; everyone bought 10 days ago.
    rows = [(f"u{c}", 10, 5.0) for c in range(6)]
    rows += [(f"u{6 + k}", 10, 5.0) for k in range(4) for _ in range(k + 2)]
    _orders_store(store, rows)
    got = rfm_scores(store, RfmConfig(), AS_OF).set_index("profile_id")
    # 6 of 10 are one-time buyers: all score 1; 2 orders beat 6 of 10: 1 + 5*6//10 = 4.
    assert [got.loc[f"u{c}", "rfm_frequency"] for c in range(10)] == [1] * 6 + [4, 4, 5, 5]
    assert set(got["rfm_recency"]) == {1}  # everyone tied
    assert got.loc["u9", "monetary"] == 25.0


def test_average_order_value_when_configured(store):
    _orders_store(store, [("a", 1, 10.0), ("a", 2, 30.0), ("b", 3, 25.0), ("c", 4, 15.0)])
    got = rfm_scores(store, RfmConfig(monetary="avg"), AS_OF).set_index("profile_id")
    assert got["monetary"].to_dict() == {"a": 20.0, "b": 25.0, "c": 15.0}
    assert got["rfm_monetary"].to_dict() == {"a": 2, "b": 4, "c": 1}


def test_no_orders_gives_an_empty_table_with_the_columns(store):
    got = rfm_scores(store, RfmConfig(), AS_OF)
    assert got.empty and list(got.columns) == list(COLUMNS)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=order_sets())
def test_the_grid_adds_up(tmp_path_factory, data):
    orders, logged_in = data
    with Store(tmp_path_factory.mktemp("grid") / "s.duckdb") as store:
        devices = {o.customer for o in orders if o.sent_as == "device"} & logged_in
        Ingestor(store).ingest(stage(messages(orders, devices), Arrival("web", AS_OF, "test")))
        rebuild(store.connection, IdentityConfig())
        scores = rfm_scores(store, RfmConfig(), AS_OF)
    grid = rfm_grid(scores, RfmConfig())
    assert list(grid["segment"]) == [rule.name for rule in DEFAULT_RFM_SEGMENTS]
    assert grid["customers"].sum() == len(scores)
    assert grid["monetary"].sum() == pytest.approx(scores["monetary"].sum())
    if len(scores):
        assert grid["share"].sum() == pytest.approx(1.0)
    assert int(rfm_matrix(scores).to_numpy().sum()) == len(scores)
