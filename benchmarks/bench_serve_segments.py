"""Live segments through `segmint serve`: acknowledgement to visible membership.

    python benchmarks/bench_serve_segments.py [--rate 5000] [--seconds 20] [--senders 8]

Starts a real `segmint serve` with the demo's segments (wall clock), then:

- background load: ``--senders`` processes post 100-message `/v1/batch`
  requests paced to ``--rate`` events/s in total (demo e-commerce events of
  50,000 profiles, stamped with the current time so windows apply);
- probes: every ``--probe-every`` seconds, a `/v1/track` "Product Viewed"
  for a brand-new anonymous id, which puts that new profile in
  ``recent_browsers``. When its 200 arrives, the probe polls
  `GET /v1/profiles/{id}` until the segment is listed. *Ack to visible* is
  the time from the 200 to the first read that shows it.

Baseline, in the same run and under the same load: the round trip of
`GET /v1/profiles/{id}` for a profile whose membership is already visible,
which is the floor of what any probe can measure. Target (issue 3): p99
ack to visible under 50 ms at 5,000 events/s.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _load import EVENTS  # noqa: E402

WRITE_KEY, SECRET = "bench-key", "bench-secret"
SEGMENT = "recent_browsers"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def _batch(sender: int, n: int) -> bytes:
    now = datetime.now(timezone.utc).isoformat()
    messages = []
    for i in range(100):
        user = (n * 100 + i) * 7919 % 50_000
        messages.append({
            "type": "track",
            "event": EVENTS[i % len(EVENTS)],
            "messageId": f"{sender}-{n}-{i}",
            "anonymousId": f"anon-{user:06d}",
            "timestamp": now,
            "properties": {"product_id": f"p-{i}", "category": ["outdoor", "shoes", "books"][i % 3],
                           "price": 19.99 + i, "cart_id": f"c-{user}"},
        })
    return orjson.dumps({"batch": messages, "sentAt": now, "writeKey": WRITE_KEY})


def _sender(args: tuple[str, int, float, float]) -> tuple[int, list[float]]:
    """Post batches at a fixed interval until the deadline; (events acknowledged, ack latencies)."""
    url, sender, interval, deadline = args
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    acked, latencies, n = 0, [], 0
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        body = _batch(sender, n)
        began = time.perf_counter()
        connection.request("POST", "/v1/batch", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - began)
        if response.status == 200:
            acked += 100
        n += 1
        next_at += interval
    connection.close()
    return acked, latencies


class Prober:
    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.write = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        self.read = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        self.write_auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
        self.read_auth = f"Bearer {SECRET}"

    def segments(self, profile: str) -> list[str]:
        self.read.request("GET", f"/v1/profiles/{profile}", headers={"Authorization": self.read_auth})
        response = self.read.getresponse()
        body = response.read()
        return orjson.loads(body).get("segments", []) if response.status == 200 else []

    def probe(self, timeout: float = 5.0) -> tuple[float, float, str]:
        """(ack latency, ack to visible) for one new profile; visible is inf on timeout."""
        anonymous_id = f"probe-{uuid.uuid4()}"
        body = orjson.dumps({
            "type": "track", "event": "Product Viewed", "anonymousId": anonymous_id,
            "messageId": anonymous_id, "timestamp": datetime.now(timezone.utc).isoformat(),
            "properties": {"product_id": "p-probe"},
        })
        began = time.perf_counter()
        self.write.request("POST", "/v1/track", body=body,
                           headers={"Content-Type": "application/json", "Authorization": self.write_auth})
        response = self.write.getresponse()
        response.read()
        acked = time.perf_counter()
        if response.status != 200:
            raise SystemExit(f"probe refused: {response.status}")
        while time.perf_counter() - acked < timeout:
            if SEGMENT in self.segments(anonymous_id):
                return acked - began, time.perf_counter() - acked, anonymous_id
        return acked - began, float("inf"), anonymous_id

    def read_round_trip(self, profile: str) -> float:
        began = time.perf_counter()
        if SEGMENT not in self.segments(profile):
            raise SystemExit("baseline profile lost its membership")
        return time.perf_counter() - began


def _start_server(workdir: Path) -> tuple[subprocess.Popen, str]:
    from segmint.demo import config_path

    config = workdir / "segmint.yaml"
    shutil.copy(config_path(), config)
    db = workdir / "serve.duckdb"
    env = dict(os.environ, SEGMINT_WRITE_KEY=WRITE_KEY, SEGMINT_SECRET_KEY=SECRET)
    proc = subprocess.Popen(
        [sys.executable, "-m", "segmint.cli.main", "serve", "--db", str(db), "--port", "0", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True,
    )
    info = db.with_name(db.name + ".server.json")
    for _ in range(1200):
        if info.exists():
            return proc, orjson.loads(info.read_bytes())["url"]
        if proc.poll() is not None:
            raise SystemExit(f"server died: {proc.stderr.read()}")
        time.sleep(0.05)
    raise SystemExit("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=5000, help="background events/s, in total")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--probe-every", type=float, default=0.05)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _start_server(Path(tmp))
        try:
            prober = Prober(url)
            _, _, anchor = prober.probe()  # a profile whose membership is visible, for the baseline
            interval = 100 * args.senders / args.rate
            deadline = time.monotonic() + args.seconds
            work = [(url, s, interval, deadline) for s in range(args.senders)]
            pool = mp.get_context("fork").Pool(args.senders)
            began = time.perf_counter()
            pending = pool.map_async(_sender, work)
            time.sleep(min(2.0, args.seconds / 4))  # let the load settle first
            acks, visible, reads = [], [], []
            while time.monotonic() < deadline - 0.5:
                ack, seen, _ = prober.probe()
                acks.append(ack)
                visible.append(seen)
                reads.append(prober.read_round_trip(anchor))
                time.sleep(args.probe_every)
            sent = pending.get()
            elapsed = time.perf_counter() - began
            pool.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    events = sum(a for a, _ in sent)
    batch_latencies = [lat for _, ls in sent for lat in ls]
    missed = sum(1 for v in visible if v == float("inf"))
    print(f"\n== segmint serve, live segments: acknowledgement to visible membership ==")
    print(f"background load: {events / elapsed:,.0f} events/s achieved (asked {args.rate:,.0f}), "
          f"{args.senders} senders, cores: {os.cpu_count()}")
    print(f"batch ack (100 msgs)       p50 {1000 * _pct(batch_latencies, 0.5):6.1f} ms   "
          f"p99 {1000 * _pct(batch_latencies, 0.99):6.1f} ms")
    print(f"probe ack (1 msg)          p50 {1000 * _pct(acks, 0.5):6.1f} ms   p99 {1000 * _pct(acks, 0.99):6.1f} ms")
    print(f"read round trip (baseline) p50 {1000 * _pct(reads, 0.5):6.1f} ms   p99 {1000 * _pct(reads, 0.99):6.1f} ms")
    print(f"ack -> visible             p50 {1000 * _pct(visible, 0.5):6.1f} ms   p99 {1000 * _pct(visible, 0.99):6.1f} ms"
          f"   ({len(visible)} probes, {missed} not visible within 5 s)")
    p99 = _pct(visible, 0.99)
    print(f"target p99 < 50 ms at 5,000 events/s: {'met' if p99 < 0.05 and events / elapsed >= 0.95 * 5000 else 'NOT met'}")


if __name__ == "__main__":
    main()
