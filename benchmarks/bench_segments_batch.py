"""Batch segment evaluation: the compiled SQL against hand-written DuckDB SQL.

    python benchmarks/bench_segments_batch.py                      # quick: 200,000 events, 4,000 profiles
    python benchmarks/bench_segments_batch.py --events 10000000 --profiles 200000
    python benchmarks/bench_segments_batch.py --events 10000000 --profiles 200000 --store /tmp/seg10m.duckdb

A vectorised generator writes a synthetic shop straight into a store's
``events`` table with DuckDB (the demo generator writes JSON lines, which at
10 million messages take far longer to produce and import than the
evaluation takes to run). ``--store`` keeps the generated store in a file
and reuses it when it already holds the requested size.

Timed, best of ``--repeat``, on the same connection in the same run:

- ``segmint``: :func:`segmint.segments.batch.evaluate_duckdb` for the demo's
  segments (``src/segmint/demo/segmint.yaml``) plus 20 generated ones that
  cover every condition kind, end to end (identity resolution included);
- ``hand-written``: the same identity resolution, then one DuckDB query
  written by hand for these exact segments, trusting what the generator is
  known to write (``total`` is always a number, ``cart_id`` always a text,
  ...), which the compiled SQL may not assume.

Both results are compared segment by segment; the script fails if they differ.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import yaml

from segmint.config.model import IdentityConfig
from segmint.segments.batch import evaluate_duckdb, profile_ids, run_duckdb
from segmint.segments.changes import Memberships
from segmint.segments.parse import LoadedSegments, load_segments
from segmint.store.store import Store

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DEMO_CONFIG = Path(__file__).resolve().parents[1] / "src" / "segmint" / "demo" / "segmint.yaml"
HISTORY_DAYS = 540

# ---- the synthetic shop -----------------------------------------------------

# Track events and their share of the feed (the rest are pages and identifies).
EVENTS = (
    ("Product Viewed", 0.40),
    ("Product List Viewed", 0.14),
    ("Products Searched", 0.09),
    ("Product Added", 0.10),
    ("Cart Viewed", 0.07),
    ("Checkout Started", 0.05),
    ("Order Completed", 0.04),
)
CATEGORIES = ("outdoor", "shoes", "books", "kitchen", "garden", "toys")


def _u(i: str, salt: int) -> str:
    """A uniform number in [0, 1) from an integer expression, deterministic."""
    return f"((hash({i}, {salt}) % 1000003) / 1000003.0)"


def generate(con: duckdb.DuckDBPyConnection, events: int, profiles: int) -> None:
    """Fill the store's ``events`` with ``events`` messages of ``profiles`` people.

    Every profile has an anonymous id; four in five sign up (a user id),
    linked by an ``identify`` that carries both ids, and browse anonymously
    before it. Traits change over time (a later identify may unset ``plan``).
    Orders carry the ``cart_id`` of the cart they check out, or nothing
    (about one in six added carts is abandoned, one in ten checked out late).
    """
    now_us = int(NOW.timestamp() * 1_000_000)
    span_us = HISTORY_DAYS * 86_400_000_000
    users = sum(1 for p in range(profiles) if p % 5)
    identifies = 2 * users + (profiles - users)  # sign-up and a later update; one for the anonymous
    tracks = max(events - identifies, 0)
    thresholds = []
    acc = 0.0
    total = sum(share for _, share in EVENTS) + 0.11  # 0.11: pages
    for name, share in EVENTS:
        acc += share / total
        thresholds.append((name, acc))
    pick = " ".join(f"WHEN r_event < {limit:.6f} THEN '{name}'" for name, limit in thresholds)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gen_people AS
        SELECT p,
               'anon-' || lpad(p::VARCHAR, 7, '0') AS anon,
               CASE WHEN p % 5 <> 0 THEN 'user-' || lpad(p::VARCHAR, 7, '0') END AS user_id,
               {now_us} - CAST({_u("p", 1)} * {span_us} AS BIGINT) AS first_us,
               ['female', 'male', 'other'][1 + CAST({_u("p", 2)} * 3 AS INT)] AS gender,
               18 + CAST({_u("p", 3)} * 60 AS INT) AS age,
               ['free', 'plus', 'pro'][1 + CAST({_u("p", 4)} * 3 AS INT)] AS plan,
               {_u("p", 5)} AS activity
        FROM range({profiles}) t(p)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gen_people AS
        SELECT *, first_us + CAST((end_us - first_us) * {_u("p", 6)} * 0.3 AS BIGINT) AS signup_us
        FROM (
            -- One in ten stops coming back 200 days before now (the churned).
            SELECT *, CASE WHEN p % 10 = 3 AND first_us < {now_us - 200 * 86_400_000_000}
                           THEN {now_us - 200 * 86_400_000_000} ELSE {now_us} END AS end_us
            FROM gen_people
        )
        """
    )
    # Tracks: each message picks a person (skewed: some people are far more
    # active), an instant between their first visit and now, and an event.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gen_tracks AS
        WITH raw AS (
            SELECT i,
                   CAST(pow({_u("i", 11)}, 1.6) * {profiles} AS BIGINT) AS p,
                   {_u("i", 12)} AS r_time,
                   {_u("i", 13)} AS r_event,
                   {_u("i", 14)} AS r1,
                   {_u("i", 15)} AS r2
            FROM range({tracks}) t(i)
        )
        SELECT raw.i, raw.p, g.anon, g.user_id, g.signup_us,
               g.first_us + CAST((g.end_us - g.first_us) * pow(raw.r_time, 0.7) AS BIGINT) AS t_us,
               CASE {pick} ELSE NULL END AS event,
               raw.r1, raw.r2
        FROM raw JOIN gen_people g USING (p)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gen_messages AS
        SELECT 'track' AS type, event, t_us,
               CASE WHEN user_id IS NOT NULL AND t_us >= signup_us THEN user_id END AS user_id,
               anon AS anonymous_id,
               CASE event
                 WHEN 'Product Viewed' THEN json_object(
                     'product_id', 'p-' || (p % 997 + CAST(r1 * 8 AS INT)),
                     'category', ['{"','".join(CATEGORIES)}'][1 + CAST(r2 * {len(CATEGORIES)} AS INT)],
                     'price', round(5 + r1 * 195, 2))
                 WHEN 'Product List Viewed' THEN json_object(
                     'category', ['{"','".join(CATEGORIES)}'][1 + CAST(r2 * {len(CATEGORIES)} AS INT)])
                 WHEN 'Products Searched' THEN json_object(
                     'query', ['tent', 'boots', 'novel', 'pan', 'rake', 'kite'][1 + CAST(r2 * 6 AS INT)])
                 WHEN 'Product Added' THEN json_object(
                     'cart_id', 'c-' || p || '-' || (t_us // 3600000000),
                     'product_id', 'p-' || (p % 997 + CAST(r2 * 8 AS INT)),
                     'price', round(5 + r1 * 195, 2),
                     'quantity', 1 + CAST(r2 * 3 AS INT))
                 WHEN 'Order Completed' THEN json_object(
                     'order_id', 'o-' || i,
                     'cart_id', 'c-' || p || '-' || (t_us // 3600000000 - CASE WHEN r2 < 0.1 THEN 1 ELSE 0 END),
                     'total', round(10 + pow(r1, 2) * 490, 2),
                     'category', ['{"','".join(CATEGORIES)}'][1 + CAST(r2 * {len(CATEGORIES)} AS INT)],
                     'coupon', CASE WHEN r2 < 0.3 THEN 'SAVE10' END,
                     'products', ['p-' || CAST(r1 * 5000 AS INT), 'p-' || CAST(r2 * 5000 AS INT)])
                 ELSE NULL
               END AS properties,
               NULL::JSON AS traits
        FROM gen_tracks
        UNION ALL
        SELECT 'identify', NULL, signup_us, user_id, anon, NULL,
               json_object('gender', gender, 'age', age, 'plan', plan,
                           'email', lower(user_id) || '@example.com',
                           'interests', ['{"','".join(CATEGORIES[:3])}'][1 + p % 3 : 1 + p % 3 + 1])
        FROM gen_people WHERE user_id IS NOT NULL
        UNION ALL
        SELECT 'identify', NULL, signup_us + CAST(({now_us} - signup_us) * {_u("p", 21)} AS BIGINT),
               user_id, anon, NULL,
               json_object('plan', CASE WHEN {_u("p", 22)} < 0.2 THEN NULL ELSE 'pro' END,
                           'age', age + 1)
        FROM gen_people WHERE user_id IS NOT NULL
        UNION ALL
        SELECT 'identify', NULL, first_us, NULL, anon, NULL,
               json_object('newsletter', p % 2 = 0)
        FROM gen_people WHERE user_id IS NULL
        """
    )
    con.execute("UPDATE gen_messages SET type = 'page', properties = NULL WHERE type = 'track' AND event IS NULL")
    columns = {row[1] for row in con.execute("PRAGMA table_info('events')").fetchall()}
    high_key = "hash(seq, 1) AS msg_key_hi," if "msg_key_hi" in columns else ""
    # Arrival order is time order, as a live feed's mostly is.
    con.execute(
        f"""
        INSERT INTO events BY NAME
        SELECT row_number() OVER (ORDER BY t_us, anonymous_id) AS seq,
               'web' AS source, 'm-' || seq AS message_id, hash(seq) AS msg_key, {high_key}
               type, event, CASE WHEN type = 'page' THEN 'Home' END AS name,
               user_id, anonymous_id,
               make_timestamptz(t_us) AS event_time, make_timestamptz(t_us) AS "timestamp",
               make_timestamptz(t_us) AS received_at, make_timestamptz(t_us) AS ingested_at,
               properties, traits
        FROM gen_messages
        ORDER BY seq
        """
    )
    for table in ("gen_people", "gen_tracks", "gen_messages"):
        con.execute(f"DROP TABLE {table}")


# ---- the segments -----------------------------------------------------------

GENERATED_SEGMENTS = """
women: {trait: gender, eq: female}
paying_plan: {trait: plan, ne: free}
thirties_forties: {trait: age, gte: 30, lte: 49}
young_adults: {trait: age, between: [25, 34]}
premium: {trait: plan, in: [plus, pro]}
not_men: {trait: gender, not_in: [male]}
example_emails: {trait: email, contains: "user-00001"}
outdoor_fans: {trait: interests, contains: outdoor}
no_plan: {trait: plan, exists: false}
newsletter: {trait: newsletter, eq: true}
outdoor_viewers:
  performed: Product Viewed
  where: {category: outdoor}
  within: 30d
  count: {gte: 3}
pricey_lookers:
  performed: Product Viewed
  where: {price: {gt: 150}}
  within: 7d
coupon_users:
  performed: Order Completed
  where: {coupon: {exists: true}}
  count: {gte: 2}
high_average:
  performed: Order Completed
  avg: {property: total, gte: 200}
small_orders:
  performed: Order Completed
  within: 365d
  min: {property: total, lt: 20}
top_order:
  performed: Order Completed
  max: {property: total, between: [400, 500]}
search_then_buy:
  performed: Products Searched
  within: 30d
  followed_by: {performed: Order Completed, within: 1d}
view_then_add_same:
  performed: Product Viewed
  within: 7d
  followed_by:
    performed: Product Added
    where: {quantity: {gte: 2}}
    within: 1h
    same: [product_id]
checkout_abandoners:
  performed: Checkout Started
  within: 14d
  not_followed_by: {performed: Order Completed, within: 2h}
engaged_women:
  all:
    - in_segment: women
    - any: [{in_segment: outdoor_viewers}, {in_segment: pricey_lookers}]
    - not: {in_segment: big_spenders}
"""


def benchmark_segments() -> LoadedSegments:
    """The demo's segments and the 20 generated ones."""
    demo = yaml.safe_load(DEMO_CONFIG.read_text())
    raw = dict(demo["segments"])
    raw.update(yaml.safe_load(GENERATED_SEGMENTS))
    loaded = load_segments(raw, demo.get("traits"))  # lapsing_regulars reads computed traits
    if loaded.errors:
        raise SystemExit("\n".join(map(str, loaded.errors)))
    return loaded


# ---- the same segments, by hand ----------------------------------------------
# What an expert writes for these segments on this data: one join of the
# events to their profiles, one aggregation pass with FILTER clauses, traits
# by arg_max, semi/anti joins for the sequences, properties read with ->>
# and cast where the generator is known to write numbers.

HAND_WRITTEN = """
WITH msgs AS NOT MATERIALIZED (
    SELECT i.profile_id AS pid, e.type, e.event, e.event_time AS ts, e.seq, e.properties, e.traits
    FROM events e
    JOIN {ids} i ON i.kind = CASE WHEN e.user_id IS NOT NULL THEN 'user_id' ELSE 'anonymous_id' END
                AND i.value = coalesce(e.user_id, e.anonymous_id)
    WHERE e.event_time <= {now}
),
ev AS (
    SELECT pid, type, event, ts,
           CASE WHEN event = 'Order Completed' THEN (properties->>'total')::DOUBLE END AS total,
           CASE WHEN event = 'Order Completed' THEN properties->>'coupon' END AS coupon,
           CASE WHEN event = 'Product Viewed' THEN properties->>'category' END AS category,
           CASE WHEN event = 'Product Viewed' THEN (properties->>'price')::DOUBLE END AS price
    FROM msgs
),
agg AS (
    SELECT pid,
        count(*) FILTER (WHERE event = 'Order Completed') AS orders,
        count(*) FILTER (WHERE event = 'Order Completed' AND ts > {now} - INTERVAL 30 DAY) AS orders_30d,
        count(*) FILTER (WHERE event = 'Order Completed' AND ts > {now} - INTERVAL 48 HOUR) AS orders_48h,
        count(*) FILTER (WHERE event = 'Order Completed' AND ts > {now} - INTERVAL 60 DAY) AS orders_60d,
        count(*) FILTER (WHERE event = 'Order Completed' AND ts > {now} - INTERVAL 90 DAY) AS orders_90d,
        count(*) FILTER (WHERE event = 'Order Completed' AND ts > {now} - INTERVAL 180 DAY) AS orders_180d,
        max(ts) FILTER (WHERE event = 'Order Completed') AS last_order,
        avg(total) FILTER (WHERE event = 'Order Completed') AS avg_total,
        sum(total) FILTER (WHERE event = 'Order Completed') AS sum_total,
        max(total) FILTER (WHERE event = 'Order Completed') AS max_total,
        min(total) FILTER (WHERE event = 'Order Completed' AND ts > {now} - INTERVAL 365 DAY) AS min_total_365d,
        count(*) FILTER (WHERE event = 'Order Completed' AND coupon IS NOT NULL) AS coupon_orders,
        count(*) FILTER (WHERE event = 'Product Viewed') AS views,
        count(*) FILTER (WHERE event = 'Product Viewed' AND ts > {now} - INTERVAL 14 DAY) AS views_14d,
        count(*) FILTER (WHERE event = 'Product Viewed' AND ts > {now} - INTERVAL 30 DAY) AS views_30d,
        count(*) FILTER (WHERE event = 'Product Viewed' AND ts > {now} - INTERVAL 48 HOUR) AS views_48h,
        count(*) FILTER (WHERE event = 'Product Viewed' AND ts > {now} - INTERVAL 180 DAY) AS views_180d,
        count(*) FILTER (WHERE event = 'Product Viewed' AND ts > {now} - INTERVAL 30 DAY AND category = 'outdoor')
            AS outdoor_views_30d,
        count(*) FILTER (WHERE event = 'Product Viewed' AND ts > {now} - INTERVAL 7 DAY AND price > 150) AS pricey_7d,
        count(*) FILTER (WHERE event = 'Product List Viewed' AND ts > {now} - INTERVAL 14 DAY) AS lists_14d,
        count(*) FILTER (WHERE event = 'Product List Viewed' AND ts > {now} - INTERVAL 30 DAY) AS lists_30d,
        count(*) FILTER (WHERE event = 'Product List Viewed' AND ts > {now} - INTERVAL 90 DAY) AS lists_90d,
        count(*) FILTER (WHERE event = 'Product List Viewed' AND ts > {now} - INTERVAL 180 DAY) AS lists_180d,
        count(*) FILTER (WHERE event = 'Product List Viewed' AND ts > {now} - INTERVAL 365 DAY) AS lists_365d,
        count(*) FILTER (WHERE event = 'Products Searched' AND ts > {now} - INTERVAL 14 DAY) AS searches_14d,
        count(*) FILTER (WHERE event = 'Products Searched' AND ts > {now} - INTERVAL 30 DAY) AS searches_30d,
        count(*) FILTER (WHERE event = 'Products Searched' AND ts > {now} - INTERVAL 180 DAY) AS searches_180d,
        count(*) FILTER (WHERE event IN ('Product Added', 'Cart Viewed', 'Checkout Started')
                         AND ts > {now} - INTERVAL 180 DAY) AS cart_steps_180d
    FROM ev
    GROUP BY pid
),
traits AS (
    SELECT pid,
        (arg_max(traits->'gender', (ts, seq)) FILTER (WHERE (traits->'gender') IS NOT NULL)) ->> '$' AS gender,
        (arg_max(traits->'age', (ts, seq)) FILTER (WHERE (traits->'age') IS NOT NULL)) AS age,
        (arg_max(traits->'plan', (ts, seq)) FILTER (WHERE (traits->'plan') IS NOT NULL)) ->> '$' AS plan,
        (arg_max(traits->'email', (ts, seq)) FILTER (WHERE (traits->'email') IS NOT NULL)) ->> '$' AS email,
        (arg_max(traits->'interests', (ts, seq)) FILTER (WHERE (traits->'interests') IS NOT NULL)) AS interests,
        (arg_max(traits->'newsletter', (ts, seq)) FILTER (WHERE (traits->'newsletter') IS NOT NULL)) AS newsletter,
        (arg_max(traits->'churn_probability', (ts, seq)) FILTER (WHERE (traits->'churn_probability') IS NOT NULL))
            AS churn_probability,
        (arg_max(traits->'predicted_clv', (ts, seq)) FILTER (WHERE (traits->'predicted_clv') IS NOT NULL))
            AS predicted_clv
    FROM msgs
    WHERE type = 'identify'
    GROUP BY pid
),
adds AS (
    SELECT pid, ts, properties->>'cart_id' AS cart_id, properties->>'product_id' AS product_id,
           (properties->>'quantity')::INT AS quantity
    FROM msgs WHERE event = 'Product Added'
),
orders AS (
    SELECT pid, ts, properties->>'cart_id' AS cart_id FROM msgs WHERE event = 'Order Completed'
),
cart_abandoners AS (
    SELECT DISTINCT a.pid FROM adds a
    WHERE a.ts > {now} - INTERVAL 7 DAY AND a.ts <= {now} - INTERVAL 30 MINUTE AND a.cart_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.pid = a.pid AND o.cart_id = a.cart_id
                      AND o.ts BETWEEN a.ts AND a.ts + INTERVAL 30 MINUTE)
),
search_then_buy AS (
    SELECT DISTINCT s.pid FROM msgs s
    WHERE s.event = 'Products Searched' AND s.ts > {now} - INTERVAL 30 DAY
      AND EXISTS (SELECT 1 FROM orders o WHERE o.pid = s.pid AND o.ts BETWEEN s.ts AND s.ts + INTERVAL 1 DAY)
),
view_then_add_same AS (
    SELECT DISTINCT v.pid FROM msgs v
    WHERE v.event = 'Product Viewed' AND v.ts > {now} - INTERVAL 7 DAY
      AND EXISTS (SELECT 1 FROM adds a WHERE a.pid = v.pid AND a.product_id = v.properties->>'product_id'
                  AND a.quantity >= 2 AND a.ts BETWEEN v.ts AND v.ts + INTERVAL 1 HOUR)
),
checkout_abandoners AS (
    SELECT DISTINCT c.pid FROM msgs c
    WHERE c.event = 'Checkout Started' AND c.ts > {now} - INTERVAL 14 DAY AND c.ts <= {now} - INTERVAL 2 HOUR
      AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.pid = c.pid AND o.ts BETWEEN c.ts AND c.ts + INTERVAL 2 HOUR)
),
flags AS (
    SELECT a.pid, a.*, t.* EXCLUDE (pid),
        ca.pid IS NOT NULL AS cart_abandoner,
        sb.pid IS NOT NULL AS searched_then_bought,
        va.pid IS NOT NULL AS viewed_then_added,
        co.pid IS NOT NULL AS checkout_abandoner,
        coalesce(a.sum_total >= 500, false) AS big_spender,
        coalesce(t.gender = 'female', false) AS woman,
        a.outdoor_views_30d >= 3 AS outdoor_viewer,
        a.pricey_7d >= 1 AS pricey_looker
    FROM agg a
    LEFT JOIN traits t USING (pid)
    LEFT JOIN cart_abandoners ca USING (pid)
    LEFT JOIN search_then_buy sb USING (pid)
    LEFT JOIN view_then_add_same va USING (pid)
    LEFT JOIN checkout_abandoners co USING (pid)
)
SELECT pid,
    orders >= 6 AND coalesce(avg_total >= 100, false) AND orders_60d >= 1 AS loyal_buyers,
    views >= 15 AND lists_90d >= 2 AND (views_30d >= 1 OR lists_30d >= 1 OR searches_30d >= 1)
        AND orders_180d = 0 AS window_shoppers,
    orders_180d >= 1 AND orders < 4 AND (views_30d >= 1 OR lists_30d >= 1 OR searches_30d >= 1 OR orders_30d >= 1)
        AS occasional_buyers,
    (views_14d >= 1 OR lists_14d >= 1 OR searches_14d >= 1) AND views < 10 AND lists_365d < 5 AND orders = 0
        AS new_visitors,
    orders >= 1 AND orders_180d = 0 AND views_180d = 0 AND lists_180d = 0 AND searches_180d = 0
        AND cart_steps_180d = 0 AS churned_customers,
    views_48h >= 1 AND orders_48h = 0 AS recent_browsers,
    cart_abandoner AS cart_abandoners,
    big_spender AS big_spenders,
    big_spender AND orders_90d = 0 AS vip_at_risk,
    woman AS women,
    coalesce(plan <> 'free', false) AS paying_plan,
    coalesce(age::DOUBLE BETWEEN 30 AND 49, false) AS thirties_forties,
    coalesce(age::DOUBLE BETWEEN 25 AND 34, false) AS young_adults,
    coalesce(plan IN ('plus', 'pro'), false) AS premium,
    coalesce(gender <> 'male', false) AS not_men,
    coalesce(contains(email, 'user-00001'), false) AS example_emails,
    coalesce(list_contains(interests::VARCHAR[], 'outdoor'), false) AS outdoor_fans,
    plan IS NULL AS no_plan,
    coalesce(newsletter::BOOLEAN, false) AS newsletter,
    outdoor_viewer AS outdoor_viewers,
    pricey_looker AS pricey_lookers,
    coupon_orders >= 2 AS coupon_users,
    coalesce(avg_total >= 200, false) AS high_average,
    coalesce(min_total_365d < 20, false) AS small_orders,
    coalesce(max_total BETWEEN 400 AND 500, false) AS top_order,
    searched_then_bought AS search_then_buy,
    viewed_then_added AS view_then_add_same,
    checkout_abandoner AS checkout_abandoners,
    woman AND (outdoor_viewer OR pricey_looker) AND NOT big_spender AS engaged_women,
    coalesce(CASE WHEN json_type(churn_probability) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN churn_probability::DOUBLE END >= 0.5
             AND CASE WHEN json_type(predicted_clv) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN predicted_clv::DOUBLE END >= 100,
             false) AS high_value_at_risk,
    orders >= 3 AND coalesce(last_order <= {now} - INTERVAL 60 DAY, false) AS lapsing_regulars
FROM flags
"""


def hand_written(con: duckdb.DuckDBPyConnection, ids: Any, as_of: datetime) -> Memberships:
    con.register("bench_profile_ids", ids)
    try:
        now = f"TIMESTAMPTZ '{as_of.isoformat()}'"
        rows = con.sql(HAND_WRITTEN.format(ids="bench_profile_ids", now=now)).to_arrow_table()
    finally:
        con.unregister("bench_profile_ids")
    rows = rows.sort_by("pid")
    pids = rows.column("pid")
    return {name: pids.filter(rows.column(name)).to_pylist() for name in rows.column_names if name != "pid"}


# ---- the run -------------------------------------------------------------------


def best_of(repeat: int, run: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def open_store(path: Path | None, events: int, profiles: int) -> Store:
    if path is not None and path.exists():
        store = Store(path)
        held = store.connection.execute("SELECT count(*), count(DISTINCT anonymous_id) FROM events").fetchone()
        if held is not None and abs(held[0] - events) <= events * 0.01 and held[1] == profiles:
            print(f"reusing {path}: {held[0]:,} messages, {held[1]:,} profiles")
            return store
        store.close()
        path.unlink()
    store = Store(path if path is not None else ":memory:")
    started = time.perf_counter()
    generate(store.connection, events, profiles)
    store.checkpoint()
    count = store.connection.execute("SELECT count(*) FROM events").fetchone()
    print(
        f"generated {count[0] if count else 0:,} messages of {profiles:,} profiles"
        f" in {time.perf_counter() - started:.1f} s"
    )
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="messages to generate (default 200000)")
    parser.add_argument("--profiles", type=int, default=4_000, help="profiles (default 4000)")
    parser.add_argument("--store", type=Path, help="keep the generated store in this DuckDB file and reuse it")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; the best is reported")
    args = parser.parse_args(argv)

    store = open_store(args.store, args.events, args.profiles)
    con = store.connection
    segments = benchmark_segments()
    identity = IdentityConfig()
    as_of = NOW - timedelta(hours=1)

    ids_time, ids = best_of(1, lambda: profile_ids(con, identity, as_of))
    print(f"identity resolution (shared by both): {ids_time:.2f} s, {ids.num_rows:,} identifiers")
    # Interleaved, so that both see the same machine load.
    ours, theirs = float("inf"), float("inf")
    for _ in range(args.repeat):
        seconds, got = best_of(1, lambda: run_duckdb(con, ids, segments, as_of))
        ours = min(ours, seconds)
        seconds, want = best_of(1, lambda: hand_written(con, ids, as_of))
        theirs = min(theirs, seconds)
    end_to_end, full = best_of(1, lambda: evaluate_duckdb(con, segments, identity, as_of))

    differing = [name for name in segments.names if got[name] != want[name] or full[name] != want[name]]
    sizes = ", ".join(f"{name} {len(got[name]):,}" for name in segments.names)
    print(f"{len(segments.names)} segments at {as_of.isoformat()}; members: {sizes}")
    print(f"segmint (compiled SQL)   {ours:7.2f} s   best of {args.repeat}")
    print(f"hand-written SQL         {theirs:7.2f} s   best of {args.repeat}")
    print(f"ratio                    {ours / theirs:7.2f}x")
    print(f"segmint end to end       {end_to_end:7.2f} s   (identity resolution included)")
    store.close()
    if differing:
        print(f"DIFFERENT MEMBERS: {', '.join(differing)}", file=sys.stderr)
        return 1
    print("members: identical for every segment")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
