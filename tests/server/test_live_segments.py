"""Live segments in the server: fed by the collector, moved by the clock, surviving restarts."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from serverkit import CONFIG_YAML, WEB_KEY, SegmintServer, unique

SEGMENTS = """
segments:
  viewers:
    description: Viewed a product in the last hour
    performed: Product Viewed
    within: 1h
  abandoners:
    performed: Product Added
    not_followed_by: {performed: Order Completed, within: 4s}
  buyers_no_view:
    all:
      - performed: Order Completed
      - not: {in_segment: viewers}
  broken:
    performed: Product Viewed
    within: 5 minutes
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def track(event: str, user: str, **properties) -> dict:
    return {"type": "track", "event": event, "userId": user, "timestamp": now_iso(), "properties": properties}


def start(workdir) -> SegmintServer:
    return SegmintServer(workdir, config_text=CONFIG_YAML + SEGMENTS).start()


def segments_of(server: SegmintServer, user: str) -> list[str]:
    return server.profile(user)["segments"]


def test_an_acknowledged_event_is_already_in_the_memberships(tmp_path):
    server = start(tmp_path / "s")
    try:
        user = unique("u")
        response = server.post("/v1/batch", {"batch": [track("Product Viewed", user)]}, key=WEB_KEY)
        assert response.status_code == 200
        assert segments_of(server, user) == ["viewers"]
        sizes = {s["name"]: s for s in server.read("/v1/segments").json()["segments"]}
        assert sizes["viewers"]["size"] == 1 and sizes["viewers"]["status"] == "ok"
        assert sizes["broken"]["status"] == "error" and "duration" in sizes["broken"]["last_error"]
    finally:
        server.stop()


def test_time_alone_makes_a_profile_enter_and_the_history_records_it(tmp_path):
    server = start(tmp_path / "s")
    try:
        user, buyer = unique("u"), unique("b")
        server.post("/v1/batch", {"batch": [track("Product Added", user), track("Product Added", buyer),
                                            track("Order Completed", buyer)]}, key=WEB_KEY)
        assert "abandoners" not in segments_of(server, user)  # the deadline has not passed yet
        deadline = time.monotonic() + 15
        while "abandoners" not in segments_of(server, user) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert "abandoners" in segments_of(server, user)
        assert "abandoners" not in segments_of(server, buyer)
        assert segments_of(server, buyer) == ["buyers_no_view"]
        entries = server.query(
            "SELECT profile_id, entered FROM segment_history WHERE segment = 'abandoners'")
        assert entries == [{"profile_id": user, "entered": True}]
    finally:
        server.stop()


@pytest.mark.parametrize("stop", ["clean", "sigkill"])
def test_members_are_paged_and_a_restart_keeps_a_pending_change(tmp_path, stop):
    workdir = tmp_path / "s"
    server = start(workdir)
    users = sorted(unique(f"u{i}-") for i in range(5))
    try:
        server.post("/v1/batch", {"batch": [track("Product Added", u) for u in users]}, key=WEB_KEY)
        seen, path = [], "/v1/segments/viewers/members?limit=2"
        server.post("/v1/batch", {"batch": [track("Product Viewed", u) for u in users]}, key=WEB_KEY)
        while path:
            page = server.read(path).json()
            seen += page["members"]
            path = page["next"]
        assert seen == users
    finally:
        # A clean stop snapshots the state; a kill leaves it to be rebuilt from
        # the store. Either way the abandon deadline is still ahead.
        if stop == "clean":
            server.stop()
        else:
            server.kill()
    restarted = SegmintServer(workdir, config_text=CONFIG_YAML + SEGMENTS).start()
    try:
        deadline = time.monotonic() + 15
        while "abandoners" not in segments_of(restarted, users[0]) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert all("abandoners" in segments_of(restarted, u) for u in users)
        listed = {s["name"]: s for s in restarted.cli_json("segments", "list")["segments"]}
        assert listed["broken"]["status"] == "error"
        assert listed["viewers"]["size"] == 5 and listed["viewers"]["status"] == "ok"
    finally:
        restarted.stop()


COMPUTED = """
traits:
  orders_total: {count: Order Completed}
segments:
  repeat_buyers:
    trait: orders_total
    gte: 2
"""


def test_computed_traits_drive_live_segments_and_remote_batch_evaluation(tmp_path):
    server = SegmintServer(tmp_path / "s", config_text=CONFIG_YAML + COMPUTED).start()
    try:
        once, twice = unique("once"), unique("twice")
        server.post("/v1/batch", {"batch": [track("Order Completed", once), track("Order Completed", twice)]}, key=WEB_KEY)
        assert segments_of(server, twice) == []
        server.post("/v1/batch", {"batch": [track("Order Completed", twice)]}, key=WEB_KEY)
        assert segments_of(server, twice) == ["repeat_buyers"] and segments_of(server, once) == []
        # `segments evaluate` while the server holds the store: batch SQL run by the server, same answer.
        evaluated = server.cli_json("segments", "evaluate", "--as-of", now_iso())
        assert evaluated["repeat_buyers"] == [twice]
    finally:
        server.stop()
