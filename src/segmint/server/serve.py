"""Running the service: uvicorn around the app, the runtime's start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from segmint.config.model import Config
from segmint.server.app import create_app
from segmint.server.runtime import Runtime


class _Server(uvicorn.Server):
    """uvicorn, but SIGTERM and SIGINT end the serve loop instead of the process.

    uvicorn re-raises a captured signal once it has stopped serving, which
    for SIGTERM kills the process before the runtime can stop: the writer's
    queue drained, the real-time state snapshotted, the discovery file
    removed. Here a signal only asks the loop to finish.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self._stop_on) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop_on(self, sig: int, frame: object) -> None:
        if self.should_exit:  # a second signal: stop waiting for connections
            self.force_exit = True
        self.should_exit = True


def serve(config: Config, db_path: Path, host: str, port: int, on_ready=None) -> None:  # type: ignore[no-untyped-def]
    """Serve until interrupted; the store stays consistent on any stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    runtime = Runtime(config, db_path)
    app = create_app(runtime)
    server = _Server(
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
