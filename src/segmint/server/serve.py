"""Running the service: uvicorn around the app, the runtime's start and stop."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import uvicorn

from segmint.config.model import Config
from segmint.server.app import create_app
from segmint.server.runtime import Runtime


def serve(config: Config, db_path: Path, host: str, port: int, on_ready=None) -> None:  # type: ignore[no-untyped-def]
    """Serve until interrupted; the store stays consistent on any stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    runtime = Runtime(config, db_path)
    app = create_app(runtime)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    )

    async def main() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                await task  # surfaces a bind error
                return
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()
        url = f"http://{bound[0]}:{bound[1]}"
        runtime.start(url)
        if on_ready:
            on_ready(url)
        await task

    try:
        asyncio.run(main())
    finally:
        runtime.stop()
