"""The HTTP baseline: uvicorn + Starlette that parses each batch and stores nothing."""

from __future__ import annotations

import asyncio
import socket

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def batch(request: Request) -> Response:
    payload = orjson.loads(await request.body())
    raws = [orjson.dumps(m) for m in payload["batch"]]  # the same per-message work segmint does
    return Response(orjson.dumps({"success": True, "accepted": len(raws)}), media_type="application/json")


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    print(f"http://127.0.0.1:{port}", flush=True)
    app = Starlette(routes=[Route("/v1/batch", batch, methods=["POST"])])
    asyncio.run(uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", access_log=False)).serve())


if __name__ == "__main__":
    main()
