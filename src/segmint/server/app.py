"""The HTTP service: the Segment-compatible collector and the read API.

Routes are thin: they parse, hand work to the :class:`Runtime`, and shape
the answer. The contract is ``shared/spec/http.md``; docs/http.md lists the
extensions.
"""

from __future__ import annotations

import asyncio
import hmac
from urllib.parse import quote
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from segmint.errors import IngestError, NotFoundError, PayloadError, SegmintError
from segmint.server.envelope import ENDPOINTS
from segmint.server.runtime import Runtime


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data, default=_default), status_code=status, media_type="application/json")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _error(status: int, code: str, message: str) -> Response:
    # `code` and `message` are what Segment-style SDKs read from an error body.
    return _json({"success": False, "code": code, "message": message}, status)


def create_app(runtime: Runtime) -> Starlette:
    async def track(request: Request) -> Response:
        kind = ENDPOINTS.get(request.path_params["kind"])
        if kind is None:
            return _error(404, "not_found", f"unknown endpoint {request.url.path}")
        body = await request.body()
        try:
            # Judged here, not by the writer, so that the writer only
            # deduplicates and commits; a large request in a worker process.
            request_judged = await runtime.judge.judge(
                kind, request.headers, body, runtime.clock.now(), f"{request.method} {request.url.path}"
            )
        except IngestError as error:
            code = "invalid_write_key" if error.status == 401 else "invalid_request"
            return _error(error.status, code, str(error))
        result = await asyncio.wrap_future(runtime.committer.submit(judged=request_judged.judged))
        return _json(
            {
                "success": True,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "failed": [{"index": f.ord, "reason": f.reason} for f in result.failures],
            }
        )

    def authorised(request: Request) -> Response | None:
        secret = runtime.config.secret_key
        if not secret:
            return _error(401, "no_secret_key", "reading needs a secret key: set secret_key or SEGMINT_SECRET_KEY")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), secret):
            return _error(401, "invalid_secret_key", "send the secret key as Authorization: Bearer KEY")
        return None

    async def profile(request: Request) -> Response:
        if (denied := authorised(request)) is not None:
            return denied
        key = runtime.profiles.find(request.path_params["id"])
        if key is None:
            return _error(404, "not_found", f"no profile has the id {request.path_params['id']!r}")
        found = runtime.profiles.profile(key)
        found["segments"] = runtime.segments_of(found["id"])
        return _json(found)

    async def segments(request: Request) -> Response:
        if (denied := authorised(request)) is not None:
            return denied
        return _json({"segments": runtime.segment_sizes()})

    async def members(request: Request) -> Response:
        if (denied := authorised(request)) is not None:
            return denied
        name = request.path_params["name"]
        try:
            limit = _limit(request)
            page, cursor = runtime.segment_members(name, request.query_params.get("cursor"), limit)
        except NotFoundError as error:
            return _error(404, "not_found", str(error))
        except ValueError as error:
            return _error(400, "invalid_request", str(error))
        nxt = f"/v1/segments/{name}/members?cursor={quote(cursor, safe='')}&limit={limit}" if cursor else None
        return _json({"members": page, "next": nxt})

    async def failed(request: Request) -> Response:
        if (denied := authorised(request)) is not None:
            return denied
        try:
            limit = _limit(request)
            after = int(request.query_params.get("cursor", "0"))
        except ValueError as error:
            return _error(400, "invalid_request", str(error))
        rows = await asyncio.to_thread(
            runtime.store.query,
            """SELECT id, source, received_at, origin, reason, raw, status FROM failed_messages
               WHERE id > ? ORDER BY id LIMIT ?""",
            [after, limit + 1],
        )
        items = rows.to_pylist()
        more = len(items) > limit
        items = items[:limit]
        out = []
        for item in items:
            raw = item.pop("raw")
            try:
                item["message"] = orjson.loads(raw)
            except orjson.JSONDecodeError:
                item["message"] = raw
            out.append(item)
        nxt = f"/v1/failed-messages?cursor={items[-1]['id']}&limit={limit}" if more and items else None
        return _json({"failed_messages": out, "next": nxt})

    async def health(request: Request) -> Response:
        return _json({"ok": True, "stored_messages": runtime.ingestor.stored_messages})

    # ---- for other segmint commands on this machine (see discovery.py) ----

    def admin(request: Request) -> Response | None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), runtime.admin_token):
            return _error(401, "invalid_admin_token", "internal endpoints are for local segmint commands")
        return None

    async def internal_query(request: Request) -> Response:
        if (denied := admin(request)) is not None:
            return denied
        payload = orjson.loads(await request.body())
        try:
            table = await asyncio.to_thread(runtime.store.query, payload["sql"], payload.get("params"))
        except Exception as error:  # the caller re-raises it on its side
            return _error(400, "query_failed", str(error))
        return Response(_ipc(table), media_type="application/vnd.apache.arrow.stream")

    async def internal_ingest(request: Request) -> Response:
        if (denied := admin(request)) is not None:
            return denied
        staged = pa.ipc.open_stream(await request.body()).read_all()
        store_failures = request.query_params.get("store_failures", "true") != "false"
        result = await asyncio.wrap_future(runtime.committer.submit(staged, store_failures=store_failures))
        return _json(
            {
                "received": result.received,
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "failures": [[f.ord, f.reason] for f in result.failures],
            }
        )

    async def internal_execute(request: Request) -> Response:
        if (denied := admin(request)) is not None:
            return denied
        payload = orjson.loads(await request.body())
        try:
            await asyncio.to_thread(runtime.store.execute, payload["sql"], payload.get("params"))
        except Exception as error:
            return _error(400, "execute_failed", str(error))
        return _json({"ok": True})

    async def internal_evaluate(request: Request) -> Response:
        if (denied := admin(request)) is not None:
            return denied
        from segmint.clock import parse_instant
        from segmint.config.model import IdentityConfig
        from segmint.segments.batch import evaluate_duckdb
        from segmint.segments.parse import load_segments

        payload = orjson.loads(await request.body())
        loaded = load_segments(payload["segments"], payload.get("traits"))
        identity = IdentityConfig.model_validate(payload["identity"])
        as_of = parse_instant(payload["as_of"])
        result = await asyncio.to_thread(evaluate_duckdb, runtime.store.cursor(), loaded, identity, as_of)
        return _json(result)

    async def internal_rebuild(request: Request) -> Response:
        if (denied := admin(request)) is not None:
            return denied
        await asyncio.to_thread(runtime.rebuild_profiles)
        return _json({"ok": True})

    routes = [
        Route("/v1/profiles/{id:path}", profile, methods=["GET"]),
        Route("/v1/segments", segments, methods=["GET"]),
        Route("/v1/segments/{name}/members", members, methods=["GET"]),
        Route("/v1/failed-messages", failed, methods=["GET"]),
        Route("/v1/{kind}", track, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/internal/query", internal_query, methods=["POST"]),
        Route("/internal/ingest", internal_ingest, methods=["POST"]),
        Route("/internal/execute", internal_execute, methods=["POST"]),
        Route("/internal/rebuild", internal_rebuild, methods=["POST"]),
        Route("/internal/segments/evaluate", internal_evaluate, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _limit(request: Request) -> int:
    value = int(request.query_params.get("limit", "100"))
    if not 1 <= value <= 1000:
        raise ValueError("limit must be between 1 and 1000")
    return value


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


__all__ = ["create_app", "PayloadError", "SegmintError"]
