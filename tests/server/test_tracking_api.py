"""The Tracking API over loopback with httpx: endpoints, keys, bodies, limits, retries, failures.

One server serves most of the module; every test uses fresh ids, so it
checks what *it* sent, and counts are taken as differences. Tests that stop
the server or may leave a store unreadable get a server of their own.
Reads of the store go through the server (``/internal/query``, as the
``segmint`` commands do while it runs) or through the public read API.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import duckdb
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serverkit import APP_KEY, SECRET_KEY, WEB_KEY, SegmintServer, unique

SHORT_PATHS = {"t": "track", "i": "identify", "p": "page", "s": "screen", "g": "group", "a": "alias"}
KINDS = tuple(SHORT_PATHS.values())


def message(kind: str, uid: str, **extra: Any) -> dict[str, Any]:
    """A valid message of ``kind`` for user ``uid`` (without ``type``: the path names it)."""
    body: dict[str, Any] = {"userId": uid, "messageId": unique(f"{kind}-")}
    body |= {
        "track": {"event": "Order Completed", "properties": {"revenue": 12.5}},
        "identify": {"traits": {"plan": "pro"}},
        "page": {"name": "Home", "anonymousId": unique("anon-")},
        "screen": {"name": "Settings"},
        "group": {"groupId": unique("grp-"), "traits": {"seats": 3}},
        "alias": {"previousId": unique("anon-")},
    }[kind]
    return body | extra


def typed(kind: str, uid: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, **message(kind, uid, **extra)}


def stored(server: SegmintServer, message_ids: list[str]) -> list[dict[str, Any]]:
    return server.query(
        "SELECT message_id, source, type FROM events WHERE message_id IN (SELECT unnest(?)) ORDER BY seq",
        [message_ids],
    )


def failed_count(server: SegmintServer) -> int:
    return len(server.failed_messages())


def is_refused(response: httpx.Response) -> None:
    """A 4xx (never a 500) whose body says why."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert body["success"] is False
    assert body["message"].strip(), body


# ---- every endpoint ----------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_each_message_endpoint_stores_its_message(shared_server: SegmintServer, kind: str) -> None:
    sent = message(kind, unique("u-"))
    response = shared_server.post(f"/v1/{kind}", sent)
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 1, "duplicates": 0, "failed": []}
    rows = stored(shared_server, [sent["messageId"]])
    assert rows == [{"message_id": sent["messageId"], "source": "web", "type": kind}]


@pytest.mark.parametrize("short", sorted(SHORT_PATHS))
def test_analytics_js_short_paths_take_text_plain(shared_server: SegmintServer, short: str) -> None:
    kind = SHORT_PATHS[short]
    sent = message(kind, unique("u-")) | {"writeKey": APP_KEY, "sentAt": datetime.now(timezone.utc).isoformat()}
    response = shared_server.post(f"/v1/{short}", sent, key=None, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert stored(shared_server, [sent["messageId"]]) == [
        {"message_id": sent["messageId"], "source": "app", "type": kind}
    ]


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/b"])
def test_batch_endpoints_store_every_message(shared_server: SegmintServer, path: str) -> None:
    uid = unique("u-")
    batch = [typed(kind, uid) for kind in KINDS]
    body = {"batch": batch, "sentAt": datetime.now(timezone.utc).isoformat(), "writeKey": WEB_KEY}
    response = shared_server.post(path, body, key=None, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "accepted": 6, "duplicates": 0, "failed": []}
    rows = stored(shared_server, [m["messageId"] for m in batch])
    assert [(r["message_id"], r["type"]) for r in rows] == [(m["messageId"], m["type"]) for m in batch]


def test_unknown_endpoint_is_404_and_stores_nothing(shared_server: SegmintServer) -> None:
    sent = typed("track", unique("u-"))
    response = shared_server.post("/v1/trak", sent)
    assert response.status_code == 404
    assert stored(shared_server, [sent["messageId"]]) == []


# ---- write keys --------------------------------------------------------------


def test_write_key_as_basic_auth_user_with_empty_password(shared_server: SegmintServer) -> None:
    sent = message("track", unique("u-"))
    response = shared_server.post("/v1/track", sent, key=APP_KEY)
    assert response.status_code == 200, response.text
    assert stored(shared_server, [sent["messageId"]])[0]["source"] == "app"


def test_write_key_in_the_body(shared_server: SegmintServer) -> None:
    sent = typed("identify", unique("u-"))
    response = shared_server.post("/v1/batch", {"batch": [sent], "writeKey": APP_KEY}, key=None)
    assert response.status_code == 200, response.text
    assert stored(shared_server, [sent["messageId"]])[0]["source"] == "app"


BAD_KEYS = {
    "missing": {"key": None},
    "unknown basic user": {"key": "wk_nobody"},
    "unknown writeKey in body": {"key": None, "body_key": "wk_nobody"},
    "secret key as write key": {"key": SECRET_KEY},
    "bearer write key": {"key": None, "headers": {"Authorization": f"Bearer {WEB_KEY}"}},
}


@pytest.mark.parametrize("case", sorted(BAD_KEYS))
@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track", "/v1/t"])
def test_request_without_a_valid_write_key_is_401_and_stores_nothing(
    shared_server: SegmintServer, case: str, path: str
) -> None:
    spec = BAD_KEYS[case]
    uid = unique("u-")
    valid, invalid = typed("track", uid), {"type": "track", "userId": uid}  # invalid: no event
    if path == "/v1/batch":
        body: dict[str, Any] = {"batch": [valid, invalid]}
    else:
        body = {k: v for k, v in valid.items() if k != "type"}
    if "body_key" in spec:
        body["writeKey"] = spec["body_key"]
    failed_before = failed_count(shared_server)
    response = shared_server.post(path, body, key=spec["key"], headers=spec.get("headers"))
    assert response.status_code == 401, response.text
    assert response.json()["success"] is False
    assert stored(shared_server, [valid["messageId"]]) == []
    assert failed_count(shared_server) == failed_before


def test_status_sees_nothing_from_unauthorised_requests(shared_server: SegmintServer) -> None:
    before = shared_server.status()
    uid = unique("u-")
    for key, body_key in ((None, None), ("wk_nobody", None), (None, "wk_nobody")):
        body: dict[str, Any] = {"batch": [typed("track", uid), {"type": "track", "userId": uid}]}
        if body_key:
            body["writeKey"] = body_key
        assert shared_server.post("/v1/batch", body, key=key).status_code == 401
    after = shared_server.status()
    assert after["messages"] == before["messages"] == shared_server.count()
    assert after["failed_messages"] == before["failed_messages"]


# ---- bodies ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/track", "/v1/t"])
def test_gzip_bodies_are_accepted(shared_server: SegmintServer, path: str) -> None:
    uid = unique("u-")
    if path == "/v1/batch":
        sent = [typed("track", uid), typed("identify", uid)]
        body: dict[str, Any] = {"batch": sent, "sentAt": datetime.now(timezone.utc).isoformat()}
    else:
        sent = [message("track", uid)]
        body = sent[0]
    response = shared_server.post(path, body, gzipped=True)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(sent)
    assert len(stored(shared_server, [m["messageId"] for m in sent])) == len(sent)


def test_corrupt_gzip_is_a_4xx_with_a_reason(shared_server: SegmintServer) -> None:
    response = shared_server.post(
        "/v1/batch", content=b"\x1f\x8b\x08\x00not really gzip", headers={"Content-Encoding": "gzip"}
    )
    is_refused(response)
    assert "gzip" in response.json()["message"]


@pytest.mark.parametrize(
    "path,content,content_type",
    [
        ("/v1/batch", b'{"batch": [', "application/json"),
        ("/v1/track", b"userId=u1&event=x", "application/x-www-form-urlencoded"),
        ("/v1/t", b"<xml/>", "text/plain"),
        ("/v1/b", b"", "text/plain"),
    ],
)
def test_body_that_is_not_json_is_400_with_the_reason(
    shared_server: SegmintServer, path: str, content: bytes, content_type: str
) -> None:
    failed_before = failed_count(shared_server)
    response = shared_server.post(path, content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert "JSON" in body["message"], body
    assert failed_count(shared_server) == failed_before


@pytest.mark.parametrize("body", [[{"type": "track"}], "batch", 42, {"batch": {"type": "track"}}, {"nobatch": []}])
def test_batch_body_of_the_wrong_shape_is_400_with_the_reason(shared_server: SegmintServer, body: Any) -> None:
    is_refused(shared_server.post("/v1/batch", body))


# ---- limits ------------------------------------------------------------------


def _padded(kind: str, uid: str, size: int) -> dict[str, Any]:
    """A message of about ``size`` bytes once serialised."""
    sent = typed(kind, uid)
    sent["properties"] = {"pad": ""}
    sent["properties"]["pad"] = "x" * max(0, size - len(orjson.dumps(sent)))
    return sent


def test_oversized_message_in_a_batch_fails_alone(shared_server: SegmintServer) -> None:
    uid = unique("u-")
    big = _padded("track", uid, 40 * 1024)
    near_limit = _padded("track", uid, 31 * 1024)
    batch = [typed("identify", uid), big, near_limit]
    response = shared_server.post("/v1/batch", {"batch": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    assert [f["index"] for f in body["failed"]] == [1]
    assert "32" in body["failed"][0]["reason"], body["failed"][0]
    assert {r["message_id"] for r in stored(shared_server, [m["messageId"] for m in batch])} == {
        batch[0]["messageId"], near_limit["messageId"]
    }
    kept = [f for f in shared_server.failed_messages() if isinstance(f["message"], dict)
            and f["message"].get("messageId") == big["messageId"]]
    assert len(kept) == 1
    assert kept[0]["message"] == big
    assert "32" in kept[0]["reason"] and kept[0]["status"] == "failed"


def test_batch_over_500_kb_is_refused_with_a_reason(shared_server: SegmintServer) -> None:
    uid = unique("u-")
    batch = [_padded("track", uid, 20 * 1024) for _ in range(30)]  # ~600 KB, each message fine
    assert len(orjson.dumps({"batch": batch})) > 500 * 1024
    failed_before = failed_count(shared_server)
    response = shared_server.post("/v1/batch", {"batch": batch})
    is_refused(response)
    assert "500" in response.json()["message"]
    assert stored(shared_server, [m["messageId"] for m in batch]) == []
    assert failed_count(shared_server) == failed_before


def test_gzipped_batch_that_inflates_past_500_kb_is_refused(shared_server: SegmintServer) -> None:
    uid = unique("u-")
    batch = [_padded("track", uid, 30 * 1024) for _ in range(40)]  # 1.2 MB, compresses to ~kBs
    response = shared_server.post("/v1/batch", {"batch": batch}, gzipped=True)
    is_refused(response)
    assert stored(shared_server, [m["messageId"] for m in batch]) == []


def test_batch_of_more_than_2500_messages_is_refused_with_a_reason(shared_server: SegmintServer) -> None:
    uid = unique("u-")
    batch = [{"type": "track", "userId": uid, "event": "e", "messageId": f"{uid}-{i}"} for i in range(2501)]
    assert len(orjson.dumps({"batch": batch})) < 500 * 1024
    response = shared_server.post("/v1/batch", {"batch": batch})
    is_refused(response)
    assert "2500" in response.json()["message"].replace(",", "")
    assert shared_server.count("user_id = ?", [uid]) == 0


def test_batch_of_exactly_2500_messages_is_accepted(shared_server: SegmintServer) -> None:
    uid = unique("u-")
    batch = [{"type": "track", "userId": uid, "event": "e", "messageId": f"{uid}-{i}"} for i in range(2500)]
    response = shared_server.post("/v1/batch", {"batch": batch}, gzipped=True)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2500
    assert shared_server.count("user_id = ?", [uid]) == 2500


@pytest.mark.parametrize("path", ["/v1/track", "/v1/identify", "/v1/t"])
def test_single_message_body_over_32_kb_is_refused(shared_server: SegmintServer, path: str) -> None:
    kind = SHORT_PATHS.get(path.rsplit("/", 1)[1], path.rsplit("/", 1)[1])
    sent = _padded(kind, unique("u-"), 33 * 1024)
    del sent["type"]
    failed_before = failed_count(shared_server)
    response = shared_server.post(path, sent)
    is_refused(response)
    assert "32" in response.json()["message"]
    assert stored(shared_server, [sent["messageId"]]) == []
    assert failed_count(shared_server) == failed_before


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth):
        value = {"a": value}
    return value


ODD_BUT_JSON = {
    "timestamp in year 0": {"event": "E", "timestamp": "0000-01-01T00:00:00Z"},
    "originalTimestamp in year 0": {"event": "E", "originalTimestamp": "0000-06-01T00:00:00Z"},
    "clock skew correction past year 9999": {
        "event": "E", "originalTimestamp": "9999-12-31T00:00:00Z", "sentAt": "2000-01-01T00:00:00Z"
    },
    "properties nested 300 deep": {"event": "E", "properties": _nested(300)},
    "integer beyond 64 bits": {"event": "E", "properties": {"n": 2**70}},
    "NUL characters": {"event": "E\u0000", "properties": {"k\u0000": "v\u0000"}},
}


@pytest.mark.parametrize("case", sorted(ODD_BUT_JSON))
def test_odd_message_fails_or_passes_alone_never_500(server: SegmintServer, case: str) -> None:
    """Valid JSON the rules may not like: never a 500, nothing breaks for the messages around it.

    Each case has a store of its own: an odd message that is accepted must
    not break reading the store afterwards either.
    """
    sibling = typed("identify", unique("u-"))
    odd = {"type": "track", "userId": unique("u-"), "messageId": unique("odd-"), **ODD_BUT_JSON[case]}
    # The standard library writes what orjson refuses (integers beyond 64 bits, deep nesting).
    response = server.post("/v1/batch", content=json.dumps({"batch": [sibling, odd]}).encode())
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert len(stored(server, [sibling["messageId"]])) == 1
    in_events = len(stored(server, [odd["messageId"]]))
    in_failed = [f for f in server.failed_messages()
                 if isinstance(f["message"], dict) and f["message"].get("messageId") == odd["messageId"]]
    assert in_events + len(in_failed) == 1, "the odd message was dropped silently or kept twice"

    # The batch-mate's profile is served at once, and so is the odd message's if it was accepted.
    assert server.profile(sibling["userId"])["traits"] == {"plan": "pro"}
    if in_events:
        assert server.profile(odd["userId"])["ids"]["user_id"] == [odd["userId"]]
    status = server.cli("status", "--format", "json", check=False)
    assert status.returncode == 0, f"segmint status broke after the {case} message:\n{status.stderr[-1500:]}"
    assert json.loads(status.stdout)["messages"] == 1 + in_events


@pytest.mark.parametrize("path", ["/v1/track", "/v1/t"])
def test_deeply_nested_single_message_is_not_a_500(shared_server: SegmintServer, path: str) -> None:
    sent = {"userId": unique("u-"), "event": "Deep", "messageId": unique("deep-"), "properties": _nested(300)}
    response = shared_server.post(path, content=json.dumps(sent).encode())
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code == 200:
        kept = len(stored(shared_server, [sent["messageId"]])) + len(response.json()["failed"])
        assert kept == 1, "the message was dropped silently"
    else:
        assert response.json()["message"].strip()


# ---- retries -----------------------------------------------------------------


def test_same_message_id_twice_is_stored_once(shared_server: SegmintServer) -> None:
    sent = message("track", unique("u-"))
    first = shared_server.post("/v1/track", sent).json()
    again = shared_server.post("/v1/track", sent).json()
    via_batch = shared_server.post("/v1/batch", {"batch": [{"type": "track", **sent}]}).json()
    assert (first["accepted"], first["duplicates"]) == (1, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    assert (via_batch["accepted"], via_batch["duplicates"]) == (0, 1)
    assert len(stored(shared_server, [sent["messageId"]])) == 1


def test_same_message_id_twice_in_one_batch_is_stored_once(shared_server: SegmintServer) -> None:
    uid = unique("u-")
    sent = typed("track", uid)
    other = typed("track", uid)
    response = shared_server.post("/v1/batch", {"batch": [sent, other, sent]}).json()
    assert (response["accepted"], response["duplicates"], response["failed"]) == (2, 1, [])
    assert len(stored(shared_server, [sent["messageId"]])) == 1


def test_same_message_id_from_two_sources_is_stored_for_each(shared_server: SegmintServer) -> None:
    sent = typed("track", unique("u-"))
    for key in (WEB_KEY, APP_KEY):
        assert shared_server.post("/v1/batch", {"batch": [sent]}, key=key).json()["accepted"] == 1
    for key in (WEB_KEY, APP_KEY):
        assert shared_server.post("/v1/batch", {"batch": [sent]}, key=key).json()["duplicates"] == 1
    rows = stored(shared_server, [sent["messageId"]])
    assert sorted(r["source"] for r in rows) == ["app", "web"]


def test_concurrent_retries_of_one_batch_are_stored_once(shared_server: SegmintServer) -> None:
    uid = unique("u-")
    batch = [typed("track", uid) for _ in range(20)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: shared_server.post("/v1/batch", {"batch": batch}).json(), range(8)))
    assert sum(a["accepted"] for a in answers) == 20
    assert sum(a["duplicates"] for a in answers) == 20 * 7
    assert shared_server.count("user_id = ?", [uid]) == 20


MODEL_MESSAGE = st.tuples(
    st.integers(0, 5),  # its messageId, from a small pool so that retries happen
    st.booleans(),  # valid, or a track without its event
)
MODEL_BATCHES = st.lists(
    st.tuples(st.sampled_from(["web", "app"]), st.lists(MODEL_MESSAGE, min_size=1, max_size=8)),
    min_size=1,
    max_size=4,
)


@settings(max_examples=10, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(batches=MODEL_BATCHES)
def test_batches_against_a_model_of_the_store(
    shared_server: SegmintServer, batches: list[tuple[str, list[tuple[int, bool]]]]
) -> None:
    """accepted + duplicates + failed adds up; each (source, messageId) is stored once; bad ones fail."""
    prefix = unique("model-")
    keys = {"web": WEB_KEY, "app": APP_KEY}
    stored_model: set[tuple[str, str]] = set()
    for source, messages in batches:
        batch = []
        for number, valid in messages:
            mid = f"{prefix}-{number}"
            body: dict[str, Any] = {"type": "track", "userId": prefix, "messageId": mid}
            if valid:
                body["event"] = "Modelled"
            batch.append(body)
        answer = shared_server.post("/v1/batch", {"batch": batch}, key=keys[source]).json()
        expected_failed = [i for i, (_, valid) in enumerate(messages) if not valid]
        new = {(source, f"{prefix}-{n}") for n, valid in messages if valid} - stored_model
        assert [f["index"] for f in answer["failed"]] == expected_failed
        assert answer["accepted"] == len(new)
        assert answer["accepted"] + answer["duplicates"] + len(answer["failed"]) == len(batch)
        stored_model |= new
    rows = shared_server.query("SELECT source, message_id FROM events WHERE user_id = ?", [prefix])
    assert Counter((r["source"], r["message_id"]) for r in rows) == Counter(stored_model)


# ---- failed messages ---------------------------------------------------------


INVALID = {
    "no userId or anonymousId": ({"type": "track", "event": "Clicked"}, ("userId", "anonymousId")),
    "track without event": ({"type": "track", "userId": "U"}, ("event",)),
    "track with empty event": ({"type": "track", "userId": "U", "event": "  "}, ("event",)),
    "bad timestamp": ({"type": "track", "userId": "U", "event": "E", "timestamp": "yesterday"}, ("timestamp",)),
    "bad originalTimestamp": (
        {"type": "identify", "userId": "U", "originalTimestamp": "2024-13-45T99:00:00Z"}, ("originalTimestamp",)
    ),
    "unknown type": ({"type": "purchase", "userId": "U"}, ("type",)),
    "not an object": (["track"], ("object",)),
}


def test_invalid_messages_are_kept_with_their_reason_and_the_batch_succeeds(shared_server: SegmintServer) -> None:
    uid = unique("u-")
    cases = list(INVALID.values())
    invalid = []
    for body, _ in cases:
        if isinstance(body, dict):
            body = {**body, "messageId": unique("bad-"), "context": {"case": uid}}
            if body.get("userId") == "U":
                body["userId"] = uid
        invalid.append(body)
    good = typed("track", uid)
    batch = [good, *invalid]
    response = shared_server.post("/v1/batch", {"batch": batch}, key=APP_KEY)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 1
    assert [f["index"] for f in answer["failed"]] == list(range(1, len(batch)))
    for failure, (_, words) in zip(answer["failed"], cases):
        assert any(word in failure["reason"] for word in words), (failure, words)
    assert shared_server.count("user_id = ?", [uid]) == 1

    records = shared_server.failed_messages()
    for body, (_, words) in zip(invalid, cases):
        matches = [r for r in records if r["message"] == body]
        assert len(matches) == 1, body
        record = matches[0]
        assert record["source"] == "app"
        assert record["status"] == "failed"
        assert any(word in record["reason"] for word in words)
        assert record["origin"] and "/v1/batch" in record["origin"]


def test_invalid_single_message_is_kept_too(shared_server: SegmintServer) -> None:
    sent = {"userId": unique("u-"), "messageId": unique("bad-")}  # a track with no event
    response = shared_server.post("/v1/track", sent)
    assert response.status_code < 500, response.text
    kept = [r for r in shared_server.failed_messages()
            if isinstance(r["message"], dict) and r["message"].get("messageId") == sent["messageId"]]
    assert len(kept) == 1
    assert "event" in kept[0]["reason"]
    assert kept[0]["message"]["userId"] == sent["userId"]


def test_failed_messages_are_paged_with_next(shared_server: SegmintServer) -> None:
    tag = unique("page-")
    batch = [{"type": "track", "event": "E", "properties": {"n": i, "tag": tag}} for i in range(5)]
    assert len(shared_server.post("/v1/batch", {"batch": batch}).json()["failed"]) == 5
    headers = {"Authorization": f"Bearer {SECRET_KEY}"}
    pages: list[list[dict[str, Any]]] = []
    path: str | None = "/v1/failed-messages?limit=2"
    while path is not None:
        assert len(pages) < 10_000
        response = httpx.get(shared_server.url + path, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["next"] is None or page["next"].startswith("/v1/failed-messages")
        pages.append(page["failed_messages"])
        path = page["next"]
    everything = [r for page in pages for r in page]
    assert all(1 <= len(page) <= 2 for page in pages)
    assert len(pages) == math.ceil(len(everything) / 2)
    ids = [r["id"] for r in everything]
    assert ids == sorted(set(ids)), "pages overlap or are out of order"
    assert len(everything) == len(shared_server.failed_messages())
    ours = [r["message"]["properties"]["n"] for r in everything
            if isinstance(r["message"], dict) and r["message"].get("properties", {}).get("tag") == tag]
    assert ours == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1001"])
def test_failed_messages_bad_limit_is_400(shared_server: SegmintServer, limit: str) -> None:
    response = shared_server.read("/v1/failed-messages", limit=limit)
    assert response.status_code == 400, response.text


# ---- reading -----------------------------------------------------------------


READ_CREDENTIALS = {
    "none": {},
    "write key as basic user": {"auth": (WEB_KEY, "")},
    "write key as bearer": {"headers": {"Authorization": f"Bearer {WEB_KEY}"}},
    "wrong bearer": {"headers": {"Authorization": "Bearer nope"}},
    "secret as basic user": {"auth": (SECRET_KEY, "")},
}


@pytest.mark.parametrize("credentials", sorted(READ_CREDENTIALS))
@pytest.mark.parametrize("path", ["/v1/profiles/{uid}", "/v1/failed-messages", "/v1/segments"])
def test_read_endpoints_refuse_anything_but_the_secret_key(
    shared_server: SegmintServer, path: str, credentials: str
) -> None:
    uid = unique("u-")
    assert shared_server.post("/v1/identify", message("identify", uid)).status_code == 200
    url = shared_server.url + path.format(uid=uid)
    refused = httpx.get(url, timeout=30, **READ_CREDENTIALS[credentials])
    assert refused.status_code == 401, refused.text
    assert uid not in refused.text
    allowed = httpx.get(url, headers={"Authorization": f"Bearer {SECRET_KEY}"}, timeout=30)
    assert allowed.status_code == 200, allowed.text


def test_profile_by_any_of_its_ids(shared_server: SegmintServer) -> None:
    uid, anon = unique("u-"), unique("anon-")
    shared_server.post("/v1/track", {"anonymousId": anon, "event": "Viewed", "messageId": unique()})
    shared_server.post("/v1/identify", {"anonymousId": anon, "userId": uid, "traits": {"name": "Ada"},
                                        "messageId": unique()})
    for any_id in (uid, anon):
        profile = shared_server.profile(any_id)
        assert profile["ids"]["user_id"] == [uid]
        assert profile["ids"]["anonymous_id"] == [anon]
        assert profile["traits"] == {"name": "Ada"}
        assert profile["segments"] == []
    assert shared_server.profile(uid)["id"] == shared_server.profile(anon)["id"]


def test_unknown_profile_is_404(shared_server: SegmintServer) -> None:
    response = shared_server.read(f"/v1/profiles/{unique('nobody-')}")
    assert response.status_code == 404, response.text
    assert response.json()["success"] is False


# ---- event time --------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def test_event_time_rules(server: SegmintServer) -> None:
    """``timestamp`` wins; else ``originalTimestamp`` corrected by the clock skew; else receipt."""
    uid = unique("u-")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    client_clock = now + timedelta(hours=3)  # the device's clock is 3 hours fast
    original = client_clock - timedelta(seconds=42)  # recorded 42 s before the batch was sent
    explicit = datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=timezone(timedelta(hours=2)))
    ids = {name: unique(f"{name}-") for name in ("timestamp", "original", "received", "single")}
    batch = [
        {"type": "track", "userId": uid, "event": "A", "messageId": ids["timestamp"],
         "timestamp": explicit.isoformat(), "originalTimestamp": _iso(original)},
        {"type": "track", "userId": uid, "event": "B", "messageId": ids["original"],
         "originalTimestamp": _iso(original)},
        {"type": "track", "userId": uid, "event": "C", "messageId": ids["received"]},
    ]
    before = datetime.now(timezone.utc)
    response = server.post("/v1/batch", {"batch": batch, "sentAt": _iso(client_clock)})
    assert response.json()["accepted"] == 3
    # analytics.js puts sentAt in the message itself.
    single = {"userId": uid, "event": "D", "messageId": ids["single"], "originalTimestamp": _iso(original),
              "sentAt": _iso(client_clock), "writeKey": WEB_KEY}
    assert server.post("/v1/t", single, key=None, headers={"Content-Type": "text/plain"}).json()["accepted"] == 1
    after = datetime.now(timezone.utc)
    server.stop_cleanly()

    con = duckdb.connect(str(server.db_path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            "SELECT message_id, event_time, received_at FROM events WHERE user_id = ?", [uid]
        ).fetchall()
    finally:
        con.close()
    got = {mid: (event_time, received) for mid, event_time, received in rows}
    assert set(got) == set(ids.values())
    for _, received in got.values():
        assert before - timedelta(seconds=1) <= received <= after + timedelta(seconds=1)

    assert got[ids["timestamp"]][0] == explicit
    skew = client_clock - original
    for name in ("original", "single"):
        event_time, received = got[ids[name]]
        assert event_time == received - skew, name
    event_time, received = got[ids["received"]]
    assert event_time == received
