"""A 200 means durable: kill the server mid-stream and count what survived.

Several client threads post batches of unique messages to ``/v1/batch`` as
fast as they can and note every batch they got a 200 for. The server is
then killed with SIGKILL (nothing can run after it: no shutdown hook, no
checkpoint). The store must open cleanly and hold every acknowledged
message exactly once; unacknowledged ones may or may not be there. A
restarted server must then take a retry of every batch without storing
anything twice.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pathlib import Path

import duckdb
import httpx
import orjson
import pytest
from serverkit import WEB_KEY, SegmintServer, wait_until

WRITERS = 4
BATCH = 40


@dataclass
class Ledger:
    """What the clients sent and what the server acknowledged."""

    sent: list[list[dict[str, object]]] = field(default_factory=list)
    acked: list[list[dict[str, object]]] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self, batches: list[list[dict[str, object]]]) -> list[str]:
        return [str(m["messageId"]) for batch in batches for m in batch]


def _batch(writer: int, number: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(BATCH):
        user = f"user-{writer}-{(number * BATCH + i) % 13}"
        mid = f"w{writer}-b{number}-m{i}"
        if i % 5 == 0:
            out.append({"type": "identify", "userId": user, "messageId": mid, "traits": {"batch": number}})
        else:
            out.append({"type": "track", "userId": user, "event": "Crash Test", "messageId": mid,
                        "properties": {"i": i}})
    return out


def _write(url: str, writer: int, ledger: Ledger, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, auth=(WEB_KEY, ""), timeout=10.0) as client:
        number = 0
        while not stop.is_set():
            batch = _batch(writer, number)
            number += 1
            with ledger.lock:
                ledger.sent.append(batch)
            body = orjson.dumps({"batch": batch, "sentAt": datetime.now(timezone.utc).isoformat()})
            try:
                response = client.post("/v1/batch", content=body, headers={"Content-Type": "application/json"})
            except httpx.HTTPError:
                return  # the server is gone; this batch's fate is unknown
            if response.status_code != 200:
                with ledger.lock:
                    ledger.unexpected.append(f"{response.status_code}: {response.text[:200]}")
                continue
            answer = response.json()
            if answer.get("accepted") != BATCH:
                with ledger.lock:
                    ledger.unexpected.append(f"200 without storing the whole batch: {answer}")
                continue
            with ledger.lock:
                ledger.acked.append(batch)


def _stream_then_kill(server: SegmintServer, kill_after: float) -> Ledger:
    ledger = Ledger()
    stop = threading.Event()
    threads = [threading.Thread(target=_write, args=(server.url, n, ledger, stop), daemon=True)
               for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while not ledger.acked and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ledger.acked, f"no batch acknowledged within 20 s: {ledger.unexpected[:3]}\n{server.log()}"
        time.sleep(kill_after)
        server.kill()
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    return ledger


def _stored_ids(db_path: object) -> Counter[str]:
    """The store's message ids, read straight from the file the killed server left."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute("SELECT message_id, count(*) FROM events GROUP BY message_id").fetchall()
        seqs = con.execute("SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) FROM events").fetchone()
        failed = con.execute("SELECT count(*) FROM failed_messages").fetchone()
    finally:
        con.close()
    assert seqs is not None and seqs[0] == seqs[1] == seqs[2], f"seq is not 1..n without gaps: {seqs}"
    assert failed == (0,), "valid messages ended up in the failed store"
    return Counter({mid: n for mid, n in rows})


def _retry_all(server: SegmintServer, batches: list[list[dict[str, object]]]) -> list[dict[str, object]]:
    """Post every batch again, from several clients at once, as SDKs retrying after an outage."""

    def post(batch: list[dict[str, object]]) -> dict[str, object]:
        response = httpx.post(server.url + "/v1/batch", json={"batch": batch}, auth=(WEB_KEY, ""), timeout=30.0)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(2 * WRITERS) as pool:
        return list(pool.map(post, batches))


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [0.3, 1.0, 1.8])
def test_sigkill_mid_stream_loses_no_acknowledged_message(
    server_factory: Callable[..., SegmintServer], kill_after: float
) -> None:
    server = server_factory().start()
    ledger = _stream_then_kill(server, kill_after)
    assert not ledger.unexpected, ledger.unexpected[:5]

    sent = ledger.ids(ledger.sent)
    acked = ledger.ids(ledger.acked)
    assert len(set(sent)) == len(sent)
    stored = _stored_ids(server.db_path)
    assert [mid for mid, n in stored.items() if n > 1] == [], "messages stored twice"
    assert set(stored) <= set(sent), "messages nobody sent"
    lost = sorted(set(acked) - set(stored))
    assert lost == [], f"{len(lost)} acknowledged messages lost, e.g. {lost[:5]}"

    # With no server running the command line reads the file itself, stale discovery file or not.
    assert server.status()["messages"] == len(stored)

    server.start()
    assert httpx.get(server.url + "/health", timeout=10).json()["stored_messages"] == len(stored)
    answers = _retry_all(server, ledger.sent)
    assert all(a["failed"] == [] for a in answers)
    assert sum(a["duplicates"] for a in answers) == len(stored)
    assert sum(a["accepted"] for a in answers) == len(sent) - len(stored)
    assert server.count() == len(sent)
    assert server.query("SELECT count(DISTINCT message_id) AS n FROM events")[0]["n"] == len(sent)
    assert httpx.get(server.url + "/health", timeout=10).json()["stored_messages"] == len(sent)

    server.stop_cleanly()
    assert _stored_ids(server.db_path) == Counter({mid: 1 for mid in sent})


def test_sigterm_stops_the_server_cleanly(server_factory: Callable[..., SegmintServer]) -> None:
    """``docker stop`` and systemd send SIGTERM: the server must run its shutdown, not just vanish."""
    server = server_factory().start()
    batch = _batch(0, 0)
    assert server.post("/v1/batch", {"batch": batch}).json()["accepted"] == BATCH
    returncode = server.stop(signal.SIGTERM)
    assert sum(_stored_ids(server.db_path).values()) == BATCH
    # The shutdown removes the discovery file; a process that died of the signal leaves it behind.
    assert not server.info_path.exists(), (
        f"segmint serve did not run its shutdown on SIGTERM (exit status {returncode}); "
        "its discovery file was left behind"
    )


def _children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_judging_workers_leave_with_a_killed_server(server_factory: Callable[..., SegmintServer]) -> None:
    """A SIGKILLed server cannot stop its worker pool; the workers must notice and go."""
    server = server_factory().start()
    big = [{"type": "track", "event": "E" * 100, "userId": f"u{i}"} for i in range(200)]  # judged by a worker
    assert server.post("/v1/batch", {"batch": big}).json()["accepted"] == 200
    workers = wait_until(lambda: _children(server.pid))
    server.kill()
    assert wait_until(lambda: not any(_alive(pid) for pid in workers), timeout=10)


def _alive(pid: int) -> bool:
    """Running, or exited and not yet reaped (a zombie) counts as gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
