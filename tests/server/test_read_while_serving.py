"""The command line while ``segmint serve`` holds the store.

DuckDB lets one process hold a store for writing, so while the server runs
the other commands find the file locked and go through the server (its
``<db>.server.json``). Each of them must work exactly as without a server:
``status``, ``profiles show``, ``failed list``, ``import`` (idempotent) and
``failed export`` + ``failed replay --from``.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from serverkit import SegmintServer, unique, wait_until


def _still_serving(server: SegmintServer) -> None:
    """The command went through the server: it is still up and still owns the store."""
    assert server.running
    info = orjson.loads(server.info_path.read_bytes())
    assert info["pid"] == server.pid
    assert server.post("/v1/track", {"userId": unique("ping-"), "event": "Ping"}).status_code == 200


def _send(server: SegmintServer, batch: list[dict[str, Any]]) -> dict[str, Any]:
    response = server.post("/v1/batch", {"batch": batch})
    assert response.status_code == 200, response.text
    return response.json()


def test_status_while_serving_counts_what_the_server_stored(shared_server: SegmintServer) -> None:
    uid = unique("u-")
    answer = _send(shared_server, [
        {"type": "identify", "userId": uid, "traits": {"plan": "pro"}, "messageId": unique()},
        {"type": "track", "userId": uid, "event": "Order Completed", "messageId": unique()},
        {"type": "track", "userId": uid},  # no event: failed
    ])
    assert (answer["accepted"], len(answer["failed"])) == (2, 1)
    status = shared_server.status()
    assert status["messages"] == shared_server.count()
    assert status["messages"] == shared_server.read("/health").json()["stored_messages"]
    waiting = [f for f in shared_server.failed_messages() if f["status"] == "failed"]
    assert status["failed_messages"] == len(waiting) >= 1
    assert {"type": "track", "name": "Order Completed"}.items() <= next(
        row for row in status["by_event"] if row["name"] == "Order Completed"
    ).items()
    _still_serving(shared_server)


def test_profiles_show_while_serving(shared_server: SegmintServer) -> None:
    uid, anon = unique("u-"), unique("anon-")
    _send(shared_server, [
        {"type": "page", "anonymousId": anon, "name": "Pricing", "messageId": unique(),
         "timestamp": "2026-01-01T10:00:00Z"},
        {"type": "identify", "anonymousId": anon, "userId": uid, "traits": {"name": "Grace", "plan": "free"},
         "messageId": unique(), "timestamp": "2026-01-01T10:05:00Z"},
        {"type": "identify", "userId": uid, "traits": {"plan": "team"}, "messageId": unique(),
         "timestamp": "2026-01-02T09:00:00Z"},
        {"type": "track", "userId": uid, "event": "Seat Added", "messageId": unique(),
         "timestamp": "2026-01-03T09:00:00Z"},
    ])

    def shown() -> dict[str, Any] | None:
        result = shared_server.cli("profiles", "show", anon, "--format", "json", check=False)
        if result.returncode != 0:
            return None
        view = orjson.loads(result.stdout)
        return view if view["messages"] == 4 else None

    # The tables the command line reads trail the server by a few seconds at most.
    view = wait_until(shown, timeout=30, interval=0.5)
    assert view["ids"] == {"anonymous_id": [anon], "user_id": [uid]}
    assert view["traits"] == {"name": "Grace", "plan": "team"}
    assert [(e["type"], e["name"]) for e in view["recent_events"]] == [
        ("track", "Seat Added"), ("identify", None), ("identify", None), ("page", "Pricing")
    ]
    assert view["recent_events"][0]["event_time"].startswith("2026-01-03T09:00:00")
    assert view["first_seen"].startswith("2026-01-01T10:00:00")
    _still_serving(shared_server)


def test_profiles_show_unknown_id_says_so(shared_server: SegmintServer) -> None:
    nobody = unique("nobody-")
    result = shared_server.cli("profiles", "show", nobody, "--format", "json", check=False)
    assert result.returncode == 2
    assert "no profile" in result.stderr and nobody in result.stderr
    _still_serving(shared_server)


def test_failed_list_while_serving(shared_server: SegmintServer) -> None:
    bad = {"type": "track", "event": "Clicked", "anonymousId": unique("anon-"), "messageId": unique("bad-"),
           "timestamp": "soon"}
    assert len(_send(shared_server, [bad])["failed"]) == 1
    listed = shared_server.cli_json("failed", "list", "--limit", "1000")
    ours = [r for r in listed["failed_messages"] if r["message"] == bad]
    assert len(ours) == 1
    assert "timestamp" in ours[0]["reason"]
    assert ours[0]["status"] == "failed" and ours[0]["source"] == "web"
    assert sum(r["n"] for r in listed["by_reason"]) == len(
        [f for f in shared_server.failed_messages() if f["status"] == "failed"]
    )
    _still_serving(shared_server)


@pytest.mark.slow
def test_import_while_serving_stores_through_the_server_once(shared_server: SegmintServer) -> None:
    uid = unique("imported-")
    lines: list[Any] = [
        {"type": "identify", "userId": uid, "traits": {"tier": "gold"}, "messageId": f"{uid}-1",
         "timestamp": "2025-05-01T00:00:00Z"},
        {"type": "track", "userId": uid, "event": "Order Completed", "properties": {"revenue": 10},
         "messageId": f"{uid}-2", "timestamp": "2025-05-02T00:00:00Z"},
        # No messageId: a retry must still be recognised.
        {"type": "track", "userId": uid, "event": "Order Completed", "properties": {"revenue": 20},
         "timestamp": "2025-05-03T00:00:00Z"},
        {"type": "page", "userId": uid, "name": "Receipt", "timestamp": "2025-05-03T00:00:01Z"},
        {"type": "track", "userId": uid},  # no event: failed
    ]
    path = shared_server.workdir / f"{uid}.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    before = shared_server.count()

    first = shared_server.cli_json("import", str(path))["files"][0]
    assert (first["received"], first["accepted"], first["duplicates"], first["failed"]) == (5, 4, 0, 1)
    assert shared_server.count() == before + 4
    assert shared_server.count("user_id = ?", [uid]) == 4
    _still_serving(shared_server)
    # Live profiles see the import at once.
    assert shared_server.profile(uid)["traits"] == {"tier": "gold"}

    failed_before = len(shared_server.failed_messages())
    again = shared_server.cli_json("import", str(path))["files"][0]
    assert (again["received"], again["accepted"], again["duplicates"]) == (5, 0, 4)
    assert shared_server.count("user_id = ?", [uid]) == 4
    assert len(shared_server.failed_messages()) == failed_before, "a re-imported bad line was kept twice"
    status = shared_server.status()
    assert status["messages"] == shared_server.count() == before + 4 + 1  # + the ping of _still_serving
    sources = shared_server.query("SELECT DISTINCT source FROM events WHERE user_id = ?", [uid])
    assert sources == [{"source": "import"}]


@pytest.mark.slow
def test_failed_export_and_replay_while_serving(shared_server: SegmintServer) -> None:
    uid, mid = unique("u-"), unique("fixme-")
    broken = {"type": "track", "userId": uid, "messageId": mid, "properties": {"sku": "B-7"}}
    assert len(_send(shared_server, [broken])["failed"]) == 1

    exported = shared_server.workdir / f"{mid}.jsonl"
    shared_server.cli("failed", "export", "--out", str(exported))
    records = [orjson.loads(line) for line in exported.read_bytes().splitlines() if line.strip()]
    ours = [r for r in records if r["message"] == broken]
    assert len(ours) == 1 and "event" in ours[0]["reason"]
    record_id = ours[0]["id"]

    fixed = shared_server.workdir / f"{mid}-fixed.jsonl"
    fixed.write_bytes(orjson.dumps({"id": record_id, "message": broken | {"event": "Order Refunded"}}) + b"\n")
    report = shared_server.cli_json("failed", "replay", "--from", str(fixed))
    assert report == {"replayed": [record_id], "still_failing": [], "unknown": []}

    rows = shared_server.query("SELECT event, source, properties FROM events WHERE message_id = ?", [mid])
    assert [(r["event"], r["source"], orjson.loads(r["properties"])) for r in rows] == [
        ("Order Refunded", "web", {"sku": "B-7"})
    ]
    record = next(f for f in shared_server.failed_messages() if f["id"] == record_id)
    assert record["status"] == "replayed"
    assert record["message"] == broken  # the record keeps what was received
    listed = shared_server.cli_json("failed", "list", "--all", "--limit", "100000")
    assert [r["status"] for r in listed["failed_messages"] if r["id"] == record_id] == ["replayed"]

    # Replaying the same fix again changes nothing.
    again = shared_server.cli_json("failed", "replay", "--from", str(fixed))
    assert again["replayed"] == [] and again["unknown"] == [record_id]
    assert shared_server.count("message_id = ?", [mid]) == 1
    _still_serving(shared_server)
