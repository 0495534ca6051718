"""Reading and judging Tracking API requests, in worker processes when they are large.

Unpacking a batch and judging its messages (``validate.judge``) is Python,
about 20 µs a message, and it ran on the event loop under the GIL that the
writer and committer threads also need: at 15,000 messages/s it was half of
the server's GIL time, and the request handlers, the writer and the
committer took turns instead of overlapping. A pool of worker processes
(``server.judge_workers``, by default one fewer than the cores) judges
requests of more than ``INLINE_MAX_BYTES`` beside the server; what comes
back is the judged Arrow table, which the handler submits to the group
commit. Small requests (a single ``track`` call) are judged inline:
handing them over would cost more than judging them. Without a pool (or
while a broken one is replaced) a large request is judged in a thread, off
the event loop.

Workers are started with ``spawn``: forking a process that holds an open
DuckDB store and its threads is not safe.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from segmint.config.model import Config
from segmint.errors import AuthError, IngestError, PayloadError
from segmint.ingest.staging import Arrival, stage
from segmint.ingest.validate import judge
from segmint.server.envelope import parse_tracking

log = logging.getLogger("segmint.server")

# A body this small (a handful of messages) is judged on the event loop.
INLINE_MAX_BYTES = 8 * 1024

# The request headers parsing reads.
_HEADERS = ("authorization", "content-encoding")


@dataclass(frozen=True)
class JudgedRequest:
    judged: pa.Table  # ``validate.judge``'s table: all the writer needs (the staged texts stay behind)


def judge_request(
    config: Config, kind: str, headers: Mapping[str, str], body: bytes, arrived_at: datetime, origin: str
) -> JudgedRequest:
    """Authenticate, unpack and judge one request (raises ``IngestError`` when it cannot be read)."""
    parsed = parse_tracking(kind, headers, body, config)
    arrival = Arrival(source=parsed.source, arrived_at=arrived_at, origin=origin, batch_sent_at=parsed.batch_sent_at)
    return JudgedRequest(judge(stage(parsed.raws, arrival), messages=parsed.messages))


def default_workers() -> int:
    """One fewer than the cores this process may use (a container's share, not the host's), at most four."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores - 1))


class RequestJudge:
    """Judges requests inline or in the worker pool; ``workers=0`` keeps everything inline."""

    def __init__(self, config: Config, workers: int | None = None) -> None:
        self._config = config
        self.workers = default_workers() if workers is None else workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self.workers and self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self._config, os.getpid()),
            )
            # Start the workers now (spawning and importing takes about a
            # second), not when the first large request is waiting.
            for _ in range(self.workers):
                self._pool.submit(_ready)

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    async def judge(
        self, kind: str, headers: Mapping[str, str], body: bytes, arrived_at: datetime, origin: str
    ) -> JudgedRequest:
        wanted = {name: headers[name] for name in _HEADERS if name in headers}
        if len(body) <= INLINE_MAX_BYTES:
            return judge_request(self._config, kind, wanted, body, arrived_at, origin)
        if self._pool is None:
            return await asyncio.to_thread(judge_request, self._config, kind, wanted, body, arrived_at, origin)
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(self._pool, _judge_in_worker, kind, wanted, body, arrived_at, origin)
        except BrokenProcessPool:
            # A worker died (killed for its memory, a crash): the pool is
            # useless from then on. Start a new one; this request is judged here.
            log.error("a judging worker died; starting the pool again")
            self._restart()
            return await asyncio.to_thread(judge_request, self._config, kind, wanted, body, arrived_at, origin)
        if isinstance(outcome, _Refused):
            raise outcome.error()
        return outcome

    def _restart(self) -> None:
        broken, self._pool = self._pool, None
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)
        self.start()


# ---- in the worker process ------------------------------------------------------

_config: Config | None = None


def _start_worker(config: Config, server_pid: int) -> None:
    global _config
    _config = config
    # A server killed outright (SIGKILL, a crash) cannot stop its pool:
    # each worker leaves when its server is gone.
    threading.Thread(target=_exit_with, args=(server_pid,), name="segmint-judge-watch", daemon=True).start()


def _exit_with(server_pid: int) -> None:
    while os.getppid() == server_pid:
        time.sleep(0.5)
    os._exit(0)


def _ready() -> None:
    return None


@dataclass(frozen=True)
class _Refused:
    """An ``IngestError`` as data: exceptions lose their HTTP status when pickled."""

    auth: bool
    message: str
    status: int

    def error(self) -> IngestError:
        return AuthError(self.message) if self.auth else PayloadError(self.message, self.status)


def _judge_in_worker(
    kind: str, headers: Mapping[str, str], body: bytes, arrived_at: datetime, origin: str
) -> JudgedRequest | _Refused:
    assert _config is not None, "the worker was started without its configuration"
    try:
        return judge_request(_config, kind, headers, body, arrived_at, origin)
    except IngestError as error:
        return _Refused(isinstance(error, AuthError), str(error), error.status)
