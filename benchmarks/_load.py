"""Load generation for the ingestion benchmark: SDK-sized batches over keep-alive HTTP.

Kept dependency-free (http.client) so the client's own cost stays small
next to the server's.
"""

from __future__ import annotations

import base64
import http.client
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

import orjson

EVENTS = ["Product Viewed", "Product Added", "Products Searched", "Product List Viewed", "Cart Viewed"]


def make_messages(count: int, seed: int = 0) -> list[dict]:
    """Realistic analytics.js-like messages (about 600 bytes each)."""
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    out = []
    for i in range(count):
        user = (i * 7919 + seed) % 50_000
        out.append(
            {
                "type": "track",
                "event": EVENTS[i % len(EVENTS)],
                "messageId": str(uuid.UUID(int=(seed << 64) | i)),
                "anonymousId": f"anon-{user:06d}",
                "userId": f"user-{user:06d}" if user % 3 else None,
                "timestamp": (start + timedelta(seconds=i)).isoformat(),
                "properties": {
                    "product_id": f"p-{i % 977}",
                    "sku": f"SKU-{i % 977:05d}",
                    "category": ["outdoor", "shoes", "books", "kitchen"][i % 4],
                    "name": "Trail Runner Jacket",
                    "price": 19.99 + (i % 50),
                    "currency": "USD",
                },
                "context": {
                    "ip": "203.0.113.7",
                    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
                    "library": {"name": "analytics.js", "version": "4.1.0"},
                    "page": {"path": "/products/trail-runner", "url": "https://shop.example/products/trail-runner"},
                },
            }
        )
    return out


def batch_bodies(messages: list[dict], size: int, write_key: str) -> list[bytes]:
    bodies = []
    for offset in range(0, len(messages), size):
        bodies.append(
            orjson.dumps({"batch": messages[offset : offset + size], "sentAt": datetime.now(timezone.utc).isoformat(),
                          "writeKey": write_key})
        )
    return bodies


def post_all(url: str, bodies: list[bytes], write_key: str, deadline: float) -> list[tuple[float, int]]:
    """Post bodies one after another on one connection; (latency s, status) each."""
    parsed = urlparse(url)
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    results = []
    for body in bodies:
        if time.monotonic() > deadline:
            break
        began = time.perf_counter()
        connection.request("POST", "/v1/batch", body=body,
                           headers={"Content-Type": "application/json", "Authorization": auth})
        response = connection.getresponse()
        response.read()
        results.append((time.perf_counter() - began, response.status))
    connection.close()
    return results
