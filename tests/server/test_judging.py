"""Large requests are judged in worker processes: the same answer as judging them inline."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timezone

import orjson
import pytest

from segmint.config.model import Config
from segmint.errors import AuthError, PayloadError
from segmint.server.judging import INLINE_MAX_BYTES, RequestJudge

CONFIG = Config.model_validate({"sources": [{"name": "web", "write_key": "wk"}]})
ARRIVED = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def _auth(key: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _batch(count: int) -> bytes:
    messages = [
        {"type": "track", "event": "Viewed", "userId": f"u{i}", "messageId": f"m{i}", "properties": {"i": i}}
        for i in range(count)
    ]
    messages += [{"type": "track", "userId": "x"}, {"type": "nonsense"}, {"event": "no type"}]  # invalid ones
    return orjson.dumps({"batch": messages, "sentAt": "2026-03-04T05:06:00Z"})


@pytest.fixture(scope="module")
def pooled():
    judge = RequestJudge(CONFIG, workers=1)
    judge.start()
    yield judge
    judge.stop()


def _run(judge: RequestJudge, headers: dict[str, str], body: bytes):
    return asyncio.run(judge.judge("batch", headers, body, ARRIVED, "POST /v1/batch"))


def test_a_large_batch_is_judged_alike_in_a_worker_and_inline(pooled):
    body = _batch(300)
    assert len(body) > INLINE_MAX_BYTES  # so the pool takes it
    inline = _run(RequestJudge(CONFIG, workers=0), _auth("wk"), body)
    pooled_result = _run(pooled, _auth("wk"), body)
    assert pooled_result.judged.equals(inline.judged)
    assert pooled_result.judged.column("reason").null_count == 300


@pytest.mark.parametrize(
    ("headers", "body", "error", "status"),
    [
        (_auth("not-a-key"), _batch(300), AuthError, 401),
        (_auth("wk"), orjson.dumps({"batch": [{"type": "track", "event": "x" * 1000}] * 600}), PayloadError, 413),
        (_auth("wk"), b"{" + b"x" * 20_000, PayloadError, 400),
    ],
)
def test_a_request_refused_in_a_worker_keeps_its_status(pooled, headers, body, error, status):
    assert len(body) > INLINE_MAX_BYTES
    with pytest.raises(error) as raised:
        _run(pooled, headers, body)
    assert raised.value.status == status
    with pytest.raises(error) as inline:
        _run(RequestJudge(CONFIG, workers=0), headers, body)
    assert str(raised.value) == str(inline.value)


def test_a_pool_whose_worker_died_is_started_again(pooled):
    """A broken pool would refuse every large request from then on; it is replaced, and the request judged."""
    import os
    import signal

    body = _batch(300)
    pid = next(iter(pooled._pool._processes))
    os.kill(pid, signal.SIGKILL)
    results = [_run(pooled, _auth("wk"), body) for _ in range(3)]  # the first may meet the dead pool
    assert all(r.judged.equals(results[0].judged) for r in results)
    assert pid not in pooled._pool._processes


def test_without_a_pool_a_large_request_is_judged_off_the_event_loop(monkeypatch):
    import threading

    import segmint.server.judging as judging

    judged_on = []
    real = judging.judge_request
    monkeypatch.setattr(judging, "judge_request", lambda *args: judged_on.append(threading.get_ident()) or real(*args))

    async def request() -> int:
        await RequestJudge(CONFIG, workers=0).judge("batch", _auth("wk"), _batch(300), ARRIVED, "POST")
        return threading.get_ident()  # the event loop's thread

    loop_thread = asyncio.run(request())
    assert judged_on and judged_on[0] != loop_thread
