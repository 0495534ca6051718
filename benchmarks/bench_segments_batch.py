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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import yaml

from segmint.config.model import IdentityConfig
from segmint.segments.batch import evaluate_duckdb, profile_ids
from segmint.segments.changes import Memberships
from segmint.segments.parse import LoadedSegments, load_segments
from segmint.store.store import Store

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
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
    identifies = profiles * 2  # sign-up and one later update per profile (some skipped)
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
               {now_us} - CAST({_u('p', 1)} * {span_us} AS BIGINT) AS first_us,
               ['female', 'male', 'other'][1 + CAST({_u('p', 2)} * 3 AS INT)] AS gender,
               18 + CAST({_u('p', 3)} * 60 AS INT) AS age,
               ['free', 'plus', 'pro'][1 + CAST({_u('p', 4)} * 3 AS INT)] AS plan,
               {_u('p', 5)} AS activity
        FROM range({profiles}) t(p)
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gen_people AS
        SELECT *, first_us + CAST(({now_us} - first_us) * {_u('p', 6)} * 0.3 AS BIGINT) AS signup_us
        FROM gen_people
        """
    )
    # Tracks: each message picks a person (skewed: some people are far more
    # active), an instant between their first visit and now, and an event.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gen_tracks AS
        WITH raw AS (
            SELECT i,
                   CAST(pow({_u('i', 11)}, 1.6) * {profiles} AS BIGINT) AS p,
                   {_u('i', 12)} AS r_time,
                   {_u('i', 13)} AS r_event,
                   {_u('i', 14)} AS r1,
                   {_u('i', 15)} AS r2
            FROM range({tracks}) t(i)
        )
        SELECT raw.i, raw.p, g.anon, g.user_id, g.signup_us,
               g.first_us + CAST(({now_us} - g.first_us) * pow(raw.r_time, 0.7) AS BIGINT) AS t_us,
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
                     'product_id', 'p-' || CAST(r1 * 5000 AS INT),
                     'category', ['{"','".join(CATEGORIES)}'][1 + CAST(r2 * {len(CATEGORIES)} AS INT)],
                     'price', round(5 + r1 * 195, 2))
                 WHEN 'Product List Viewed' THEN json_object(
                     'category', ['{"','".join(CATEGORIES)}'][1 + CAST(r2 * {len(CATEGORIES)} AS INT)])
                 WHEN 'Products Searched' THEN json_object(
                     'query', ['tent', 'boots', 'novel', 'pan', 'rake', 'kite'][1 + CAST(r2 * 6 AS INT)])
                 WHEN 'Product Added' THEN json_object(
                     'cart_id', 'c-' || p || '-' || (t_us // 3600000000),
                     'product_id', 'p-' || CAST(r1 * 5000 AS INT),
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
        SELECT 'identify', NULL, signup_us + CAST(({now_us} - signup_us) * {_u('p', 21)} AS BIGINT),
               user_id, anon, NULL,
               json_object('plan', CASE WHEN {_u('p', 22)} < 0.2 THEN NULL ELSE 'pro' END,
                           'age', age + 1)
        FROM gen_people WHERE user_id IS NOT NULL
        UNION ALL
        SELECT 'identify', NULL, first_us, NULL, anon, NULL,
               json_object('newsletter', p % 2 = 0)
        FROM gen_people WHERE user_id IS NULL
        """
    )
    con.execute("UPDATE gen_messages SET type = 'page', properties = NULL WHERE type = 'track' AND event IS NULL")
    con.execute(
        """
        INSERT INTO events
        SELECT row_number() OVER (ORDER BY t_us, anonymous_id) AS seq,
               'web', 'm-' || seq, hash(seq), type, event,
               CASE WHEN type = 'page' THEN 'Home' END,
               user_id, anonymous_id, NULL, NULL,
               make_timestamptz(t_us), make_timestamptz(t_us), NULL, NULL, make_timestamptz(t_us),
               properties, traits, NULL, NULL, NULL, make_timestamptz(t_us)
        FROM gen_messages
        ORDER BY seq
        """
    )
    for table in ("gen_people", "gen_tracks", "gen_messages"):
        con.execute(f"DROP TABLE {table}")
