"""Everything a running server holds: store, writer, live state, background work.

Kept apart from the HTTP routes so that the routes stay thin and the
lifecycle (start, stop, crash recovery) is in one place.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from segmint.clock import Clock, SystemClock
from segmint.config.model import Config
from segmint.identity.live import LiveProfiles
from segmint.identity.profiles import rebuild
from segmint.ingest.ingestor import IngestResult, Ingestor
from segmint.server.committer import GroupCommitter
from segmint.server.judging import RequestJudge
from segmint.server.live_segments import ROW_COLUMNS, LiveSegments
from segmint.server.maintenance import Job, JobContext, JobRunner, ServerStore, default_jobs
from segmint.store.discovery import ServerInfo, remove_info, write_info
from segmint.store.store import Store

log = logging.getLogger("segmint.server")


@dataclass
class Runtime:
    config: Config
    db_path: Path
    clock: Clock = field(default_factory=SystemClock)
    rebuild_every_s: float = 30.0
    tick_every_s: float = 0.25
    snapshot_every_s: float = 300.0
    status_every_s: float = 2.0
    jobs: list[Job] | None = None  # None: the jobs the configuration asks for
    # DuckDB worker threads. One: each query runs on the thread that asked,
    # so queries on different threads still run side by side. With worker
    # threads, a group commit's small INSERT and COMMIT hand their work to a
    # worker that competes for the cores with the request handlers: 3-4x
    # slower under load (measured), and the writer is what requests wait on.
    store_threads: int | None = 1
    # DuckDB checkpoints (writes the write-ahead log into the store file)
    # inside the COMMIT that takes the log past this size, so under load one
    # group commit in a few pays for it, and each checkpoint rewrites the
    # last, partly filled row group again. DuckDB's 16 MB made checkpoints
    # a large share of the committer's time; at 256 MB the collector does
    # 10-25% more (measured), and a restart after a crash replays at most
    # this much log. The server checkpoints when it stops.
    checkpoint_threshold: str | None = "256MB"

    def __post_init__(self) -> None:
        self.store = Store(self.db_path, threads=self.store_threads, checkpoint_threshold=self.checkpoint_threshold)
        self.ingestor = Ingestor(self.store, self.clock)
        self.profiles = LiveProfiles(self.config.identity)
        self.profiles.load(self.store.cursor())
        self.segments = LiveSegments(self.store, self.config, self.clock)
        self.segment_failure: str | None = None
        self.committer = GroupCommitter(
            self.ingestor, [self._after_commit], max_wait_s=self.config.server.commit_interval_ms / 1000
        )
        self.judge = RequestJudge(self.config, self.config.server.judge_workers)
        self.admin_token = secrets.token_urlsafe(24)
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._rebuilder = threading.Thread(target=self._rebuild_loop, name="segmint-profiles", daemon=True)
        self._ticker = threading.Thread(target=self._tick_loop, name="segmint-clock", daemon=True)
        self._rebuild_lock = threading.Lock()
        self._rebuilt_once = threading.Event()
        self.maintenance = JobRunner(default_jobs(self.config) if self.jobs is None else self.jobs, self._job_context)
        self._maintainer = threading.Thread(
            target=self.maintenance.loop,
            args=(self._stopping, self.clock.now, self._rebuilt_once),
            name="segmint-maintenance",
            daemon=True,
        )

    def _job_context(self) -> JobContext:
        return JobContext(ServerStore(self.store, self.committer, self.rebuild_profiles), self.config, self.clock.now())

    def start(self, url: str) -> None:
        self.judge.start()
        self.committer.start()
        self._rebuilder.start()
        self.segments.write_status()
        self._ticker.start()
        self.rebuild_profiles()
        if self.maintenance.jobs:
            self._maintainer.start()
        write_info(self.db_path, ServerInfo(url=url, token=self.admin_token))

    def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        self.judge.stop()
        self.committer.stop()
        self._rebuilder.join(timeout=30)
        self._ticker.join(timeout=30)
        self._rebuilt_once.set()  # releases a maintainer still waiting for its first rebuild
        if self._maintainer.is_alive():
            self._maintainer.join(timeout=60)
        try:
            self.segments.snapshot()
        except Exception:
            log.exception("could not snapshot the real-time state; it will be rebuilt at start")
        remove_info(self.db_path, self.admin_token)
        self.store.checkpoint()
        self.store.close()

    def _after_commit(self, result: IngestResult) -> None:
        if result.rows is not None and result.rows.num_rows:
            self.profiles.apply(result.rows)  # reads the Arrow columns directly
            self._dirty.set()
            try:
                # Rows as dicts only when there are segments to feed them to.
                rows = result.rows.select(ROW_COLUMNS).to_pylist() if self.segments.loaded.definitions else []
                self.segments.on_commit(rows, result.last_seq)
            except Exception as error:  # never stale in silence: reported by the API and `segments list`
                self.segment_failure = f"{type(error).__name__}: {error}"
                log.exception("real-time segment evaluation failed")

    def _tick_loop(self) -> None:
        # Time alone changes memberships (windows slide, deadlines pass).
        last_snapshot = last_status = self.clock.now()
        while not self._stopping.wait(self.tick_every_s):
            try:
                self.segments.tick()
                if (self.clock.now() - last_status).total_seconds() >= self.status_every_s:
                    self.segments.write_status(self.segment_failure)
                    last_status = self.clock.now()
                if (self.clock.now() - last_snapshot).total_seconds() >= self.snapshot_every_s:
                    self.segments.snapshot()
                    last_snapshot = self.clock.now()
            except Exception as error:
                self.segment_failure = f"{type(error).__name__}: {error}"
                log.exception("real-time segment clock failed")

    def rebuild_profiles(self) -> None:
        """Bring the store's identity and profile tables up to date."""
        with self._rebuild_lock:
            rebuild(self.store.cursor(), self.config.identity)
        self._rebuilt_once.set()

    def _rebuild_loop(self) -> None:
        # Debounced: the tables the CLI reads trail the live state by at
        # most rebuild_every_s (a full rebuild costs O(events)); the HTTP read API never does (it reads memory).
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.is_set():
                return
            self._dirty.clear()
            try:
                self.rebuild_profiles()
            except Exception:
                log.exception("profile rebuild failed")
            self._stopping.wait(self.rebuild_every_s)

    # ---- segments -----------------------------------------------------------

    def segments_of(self, profile_id: str) -> list[str]:
        return self.segments.segments_of(profile_id)

    def segment_sizes(self) -> list[dict[str, object]]:
        sizes = self.segments.sizes()
        if self.segment_failure:
            for entry in sizes:
                entry["status"] = "error"
                entry["last_error"] = self.segment_failure
        return sizes

    def segment_members(self, name: str, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
        return self.segments.members(name, cursor, limit)

