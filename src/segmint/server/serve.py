"""Running the service: uvicorn around the app, the runtime's start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
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


def _tune_gc() -> None:
    """Keep Python's cyclic collector from walking the server's live state.

    The live profiles and the real-time state are millions of small
    containers that live as long as the server; each full collection walks
    them all, and with the default thresholds (a collection every 700
    allocations) that was most of the cost of applying a commit to live
    profiles. What exists after start-up is frozen out of collection, and
    collections run less often; garbage cycles are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


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
        _tune_gc()
        if on_ready:
            on_ready(url)
        await task

    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())
    finally:
        runtime.stop()


def _loop_factory():  # type: ignore[no-untyped-def]
    """uvloop's event loop (libuv, in C) where it is installed: the collector's
    requests cost the server's interpreter lock less time than on asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
