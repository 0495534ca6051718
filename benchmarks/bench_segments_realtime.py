"""Real-time segments benchmark: replay the demo shop through the evaluator, one core.

    python benchmarks/bench_segments_realtime.py [--customers 10000] [--data DIR] [--check]

1. Generates the demo shop (``segmint.demo.generate_shop``, benchmark
   activity) and imports it into a DuckDB store with the demo configuration
   (identity by email too), unless ``--data DIR`` already holds one; reads
   the ``events`` table back as rows (JSON columns as text, as the server
   hands them over).
2. Orders the rows as they would arrive: by event time, with ``--late``
   (2%) of them delayed by up to ``--max-delay`` (10 minutes), so late
   events and late identity links are part of the stream.
3. Segments: the demo's nine, plus 20 generated ones covering every
   condition kind (trait operators, where filters, counts and the four
   aggregates with and without ``within``, ``followed_by`` with and
   without gaps and ``same``, ``not_followed_by``, ``in_segment``,
   ``not``/``all``/``any``).
4. Times, on one core:
   - baseline: the same rows parsed (event time, JSON properties) and
     routed to a per-profile list by primary id, no evaluation: what any
     consumer of this stream pays;
   - exact replay: batches of ``--batch`` rows fed, then the clock advanced
     to the batch's latest event time, so each message becomes visible at
     its own instant and every window exit and deadline in between is
     emitted at its instant (one settle per distinct instant);
   - server style: the clock first moved to the batch's latest event time,
     then the batch fed (all visible at once, one settle per batch);
   - rebuild: an evaluator started at the last event time and fed the whole
     stream at once (every message late, each profile settled once), as a
     restart without a snapshot can do.
   Events/s is rows / CPU seconds of this process (``time.process_time``,
   steadier than wall time on a shared machine); the evaluator's own cost
   per event is the difference with the baseline. The time spent in
   Python's cyclic garbage collector is reported too (the input rows are
   frozen out of it with ``gc.freeze()`` first: they are the benchmark's
   buffer, not the evaluator's state). The collector follows the policy
   ``segmint replay`` applies (``segments.realtime.collector.CollectorPolicy``:
   collect and freeze at start, then freeze every 5,000 messages, young
   threshold 50,000); ``--gc default`` keeps CPython's default instead.
5. ``--check``: the three end with the same memberships.

Like ``segmint replay`` and ``segmint serve``, the benchmark first puts
Python's object arenas on huge pages where the system allows
(``segments/realtime/arenas.py``); ``SEGMINT_HUGE_PAGES=0`` keeps them on
ordinary pages, to compare.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson

from segmint.compiled import summary
from segmint.config.load import load_config
from segmint.demo import config_path
from segmint.segments.parse import load_segments
from segmint.segments.realtime import RealtimeEvaluator
from segmint.segments.realtime import arenas
from segmint.segments.realtime.collector import CollectorPolicy
from segmint.segments.realtime.instants import micros
from segmint.store.store import Store

COLUMNS = "seq, type, event, user_id, anonymous_id, previous_id, event_time, properties, traits, context"

# Every condition kind, on the demo's events and traits.
GENERATED: dict[str, Any] = {
    "g01_women_25_34": {"all": [{"trait": "gender", "eq": "female"}, {"trait": "age", "between": [25, 34]}]},
    "g02_nordics": {"trait": "country", "in": ["SE", "NO", "DK", "FI", "Sweden", "Norway", "Denmark", "Finland"]},
    "g03_gmail": {"trait": "email", "contains": "gmail"},
    "g04_no_city": {"trait": "city", "exists": False},
    "g05_outdoor_hot": {"performed": "Product Viewed", "where": {"category": "outdoor"}, "count": {"gte": 2},
                        "within": "1h"},
    "g06_pricey_views": {"performed": "Product Viewed", "where": {"price": {"gt": 100}}, "within": "7d",
                         "count": {"between": [3, 10]}},
    "g07_cart_value_day": {"performed": "Product Added", "sum": {"property": "price", "gte": 150},
                           "within": "1d"},
    "g08_avg_order_90d": {"performed": "Order Completed", "avg": {"property": "total", "gt": 120},
                          "within": "90d"},
    "g09_small_orders": {"performed": "Order Completed", "max": {"property": "total", "lt": 50}},
    "g10_big_single_item": {"performed": "Product Added", "min": {"property": "price", "gte": 100},
                            "within": "30d"},
    "g11_lifetime_discount": {"performed": "Order Completed", "sum": {"property": "discount", "gt": 0}},
    "g12_checkout_abandon": {"performed": "Checkout Started", "within": "3d",
                             "not_followed_by": {"performed": "Order Completed", "within": "1h"}},
    "g13_cart_then_order": {"performed": "Cart Viewed", "within": "14d",
                            "followed_by": {"performed": "Order Completed", "within": "2h", "same": ["cart_id"]}},
    "g14_searched_then_viewed": {"performed": "Products Searched",
                                 "followed_by": {"performed": "Product Viewed", "within": "10m"}},
    "g15_ever_list_then_buy": {"performed": "Product List Viewed", "followed_by": {"performed": "Order Completed"}},
    "g16_removed_not_readded": {"performed": "Product Removed", "within": "30d",
                                "not_followed_by": {"performed": "Product Added", "within": "1d",
                                                    "same": ["product_id"]}},
    "g17_loyal_women": {"all": [{"in_segment": "loyal_buyers"}, {"trait": "gender", "eq": "female"}]},
    "g18_quiet_spenders": {"all": [{"in_segment": "big_spenders"},
                                   {"not": {"performed": "Product Viewed", "within": "30d"}}]},
    "g19_active_any": {"any": [{"performed": "Product Viewed", "within": "1d", "count": {"gte": 5}},
                               {"performed": "Order Completed", "within": "7d"},
                               {"trait": "vip", "eq": True}]},
    "g20_not_electronics": {"not": {"performed": "Product Viewed", "where": {"category": {"in": ["electronics"]}},
                                    "count": {"gte": 1}}},
}


def load_rows(customers: int, data: Path | None) -> tuple[list[dict[str, Any]], Path]:
    folder = data or Path(tempfile.mkdtemp(prefix="bench-rt-"))
    store_path = folder / "shop.duckdb"
    if not store_path.exists():
        print(f"generating {customers:,} customers into {folder} ...", flush=True)
        shop = folder / "shop"
        subprocess.run([sys.executable, str(Path(__file__).parent / "gen_data.py"), "--customers", str(customers),
                        "--out", str(shop)], check=True, stdout=subprocess.DEVNULL)
        segmint = Path(sys.executable).with_name("segmint")
        subprocess.run([str(segmint), "import", "--config", str(config_path()), "--db", str(store_path),
                        str(shop / "events.jsonl"), str(shop / "customers.csv"), str(shop / "orders.parquet")],
                       check=True, stdout=subprocess.DEVNULL)
    store = Store(store_path)
    try:
        rows = store.query(f"SELECT {COLUMNS} FROM events ORDER BY event_time, seq").to_pylist()
    finally:
        store.close()
    return rows, folder


def arrival_order(rows: list[dict[str, Any]], late: float, max_delay: timedelta, seed: int) -> list[dict[str, Any]]:
    """Rows as they reach the evaluator: in time order, some arriving up to ``max_delay`` late."""
    rng = random.Random(seed)
    keyed = []
    for row in rows:
        arrives = row["event_time"]
        if rng.random() < late:
            arrives += max_delay * rng.random()
        keyed.append((arrives, row["seq"], row))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [row for _, _, row in keyed]


def baseline(stream: list[dict[str, Any]]) -> float:
    """Parse and route per profile, no evaluation."""
    began = time.process_time()
    by_profile: dict[tuple[str, str], list[tuple[int, Any]]] = {}
    for row in stream:
        at = micros(row["event_time"])
        user = row["user_id"]
        key = ("user_id", user) if user is not None else ("anonymous_id", row["anonymous_id"])
        body = orjson.loads(row["properties"]) if row["type"] == "track" and row["properties"] else None
        found = by_profile.get(key)
        if found is None:
            found = by_profile[key] = []
        found.append((at, body))
    return time.process_time() - began


class GcClock:
    """CPU time spent in the cyclic garbage collector while active."""

    def __init__(self) -> None:
        self.seconds, self._began, self.active = 0.0, 0.0, False
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, Any]) -> None:
        if not self.active:
            return
        if phase == "start":
            self._began = time.process_time()
        else:
            self.seconds += time.process_time() - self._began


GC = GcClock()


class DefaultCollector:
    """CPython's default collector policy (``--gc default``): nothing done."""

    def __enter__(self) -> DefaultCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def fed(self, count: int) -> None:
        pass


def collector(policy: str) -> CollectorPolicy | DefaultCollector:
    return CollectorPolicy() if policy == "replay" else DefaultCollector()


def replay(stream: list[dict[str, Any]], segments: Any, identity: Any, batch: int, exact: bool,
           policy: str = "replay") -> tuple[float, RealtimeEvaluator, int]:
    evaluator = RealtimeEvaluator(segments, identity)
    changes = 0
    latest = None
    GC.seconds, GC.active = 0.0, True
    began = time.process_time()
    with collector(policy) as gc_policy:  # as `segmint replay` does
        for offset in range(0, len(stream), batch):
            rows = stream[offset : offset + batch]
            newest = max(row["event_time"] for row in rows)
            latest = newest if latest is None or newest > latest else latest
            if exact:
                changes += len(evaluator.feed(rows))
                changes += len(evaluator.advance(latest))
            else:
                changes += len(evaluator.advance(latest))
                changes += len(evaluator.feed(rows))
            gc_policy.fed(len(rows))
    spent = time.process_time() - began
    GC.active = False
    return spent, evaluator, changes


def rebuild(stream: list[dict[str, Any]], segments: Any, identity: Any,
            policy: str = "replay") -> tuple[float, RealtimeEvaluator]:
    """State from history, as a restart without a snapshot: everything is already visible."""
    began = time.process_time()
    with collector(policy):
        evaluator = RealtimeEvaluator(segments, identity, start=max(row["event_time"] for row in stream))
        evaluator.feed(stream)
    return time.process_time() - began, evaluator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--data", type=Path, help="folder to keep (or reuse) the generated store in")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--late", type=float, default=0.02)
    parser.add_argument("--max-delay", type=float, default=10.0, help="minutes")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--limit", type=int, help="replay only the first N messages")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the exact replay")
    parser.add_argument("--gc", choices=["replay", "default"], default="replay",
                        help="garbage collector policy: segmint replay's (default), or CPython's default")
    args = parser.parse_args()

    # As segmint replay and serve do before making the state (SEGMINT_HUGE_PAGES=0 to compare).
    arenas.use_huge_pages()
    if args.data:
        args.data.mkdir(parents=True, exist_ok=True)
    rows, folder = load_rows(args.customers, args.data)
    stream = arrival_order(rows, args.late, timedelta(minutes=args.max_delay), args.seed)
    del rows
    if args.limit:
        stream = stream[: args.limit]
    config = load_config(config_path())
    definitions = dict(config.segments) | GENERATED
    segments = load_segments(definitions, config.traits)  # lapsing_regulars reads computed traits
    assert not segments.errors, segments.errors
    identity = config.identity
    late = sum(1 for a, b in pairwise(stream) if b["event_time"] < a["event_time"])
    print(f"{len(stream):,} messages from {folder} ({late:,} arriving after a later one); "
          f"{len(segments.definitions)} segments", flush=True)
    print(summary(), flush=True)  # compiled or pure Python (SEGMINT_PURE_PYTHON=1 to measure the latter)
    print(arenas.summary(), flush=True)

    # The input rows are the benchmark's buffer, not the evaluator's state: keep the
    # garbage collector from rescanning them (a server would not hold them either).
    gc.collect()
    gc.freeze()
    base = min(baseline(stream) for _ in range(3))
    gc.collect()
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        replay(stream, segments, identity, args.batch, exact=True, policy=args.gc)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    exact_s, evaluator, exact_changes = replay(stream, segments, identity, args.batch, exact=True, policy=args.gc)
    exact_gc = GC.seconds
    gc.collect()
    server_s, server_eval, server_changes = replay(stream, segments, identity, args.batch, exact=False,
                                                   policy=args.gc)
    server_gc = GC.seconds
    gc.collect()
    rebuild_s, rebuilt = rebuild(stream, segments, identity, policy=args.gc)
    plan = evaluator._plan
    n = len(stream)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"segments {len(plan.names)}, distinct leaves {len(plan.leaves)}, logs per identifier {plan.slot_count}, "
          f"profiles {len(evaluator.profile_ids()):,}")
    print(f"baseline (parse + route per profile)      {base:7.2f} s  {n / base:>10,.0f} events/s")
    print(f"real time, exact instants (feed, advance) {exact_s:7.2f} s  {n / exact_s:>10,.0f} events/s  "
          f"{exact_changes:,} changes")
    print(f"real time, server style (advance, feed)   {server_s:7.2f} s  {n / server_s:>10,.0f} events/s  "
          f"{server_changes:,} changes")
    print(f"rebuild (clock at the end, all fed at once) {rebuild_s:7.2f} s  {n / rebuild_s:>10,.0f} events/s")
    print(f"evaluator's own cost: {1e6 * (exact_s - base) / n:.1f} us/event exact, "
          f"{1e6 * (server_s - base) / n:.1f} us/event server style; peak RSS {rss:,.0f} MB")
    print(f"of which in the cyclic garbage collector: {exact_gc:.2f} s exact ({100 * exact_gc / exact_s:.0f}%), "
          f"{server_gc:.2f} s server style ({100 * server_gc / server_s:.0f}%); policy: "
          + ("segmint replay's (freeze every 5,000 messages)" if args.gc == "replay"
             else "CPython's default"))
    sizes = {name: len(ids) for name, ids in evaluator.memberships().items()}
    print("members at the end: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()))
    if args.check:
        same = rebuilt.memberships() == evaluator.memberships() == server_eval.memberships()
        print(f"check: exact replay, server style and rebuild agree: {'yes' if same else 'NO'}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
