"""Background jobs of a running server: scoring, cluster assignment, retraining.

A job is a function of a :class:`JobContext` run every ``every_s`` seconds
on one maintenance thread, after the profile tables have been rebuilt at
least once. Inside the server the store has one writer (the group
committer), so a job's context hands it a store whose ``ingest`` goes
through the committer and whose ``query``/``execute`` use their own
connection: exactly what the same code gets from a local store in the CLI.

Capabilities register a job factory in :func:`default_jobs`; a factory
returns None when its configuration does not ask for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from segmint.config.model import Config
from segmint.ingest.ingestor import IngestResult
from segmint.learn.assign import assignment_job
from segmint.models.job import models_job
from segmint.server.committer import GroupCommitter
from segmint.store.store import Store

log = logging.getLogger("segmint.server.maintenance")


class ServerStore:
    """The store as a job sees it: reads and writes that respect the single writer."""

    def __init__(self, store: Store, committer: GroupCommitter, rebuild: Callable[[], None]) -> None:
        self._con = store.cursor()
        self._committer = committer
        self._rebuild = rebuild

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        return self._con.sql(sql, params=list(params) if params else None).to_arrow_table()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self._committer.lock:
            self._con.execute(sql, list(params) if params else [])

    def ingest(self, staged: pa.Table, *, store_failures: bool = True) -> IngestResult:
        return self._committer.submit(staged, store_failures=store_failures).result()

    def rebuild_profiles(self) -> None:
        """Makes ``identity.profiles.refresh`` rebuild through the server."""
        self._rebuild()

    def close(self) -> None:
        self._con.close()


@dataclass(frozen=True)
class JobContext:
    store: ServerStore
    config: Config
    now: datetime


@dataclass(frozen=True)
class Job:
    name: str
    every_s: float
    run: Callable[[JobContext], Any]


JobFactory = Callable[[Config], "Job | None"]


def default_jobs(config: Config) -> list[Job]:
    """The jobs this configuration asks for. Each capability adds its factory here."""
    factories: list[JobFactory] = [assignment_job, models_job]
    return [job for factory in factories if (job := factory(config)) is not None]


@dataclass
class JobRunner:
    """Runs due jobs on one thread; a failing job is logged and reported, never fatal."""

    jobs: list[Job]
    context: Callable[[], JobContext]
    last_run: dict[str, datetime] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)

    def run_due(self, now: datetime) -> list[str]:
        ran = []
        for job in self.jobs:
            previous = self.last_run.get(job.name)
            if previous is not None and (now - previous).total_seconds() < job.every_s:
                continue
            self.last_run[job.name] = now
            try:
                context = self.context()
                try:
                    job.run(context)
                finally:
                    context.store.close()  # its own cursor: one per run, never left open
                self.last_error.pop(job.name, None)
            except Exception as error:
                self.last_error[job.name] = f"{type(error).__name__}: {error}"
                log.exception("maintenance job %s failed", job.name)
            ran.append(job.name)
        return ran

    def loop(self, stopping: threading.Event, clock: Callable[[], datetime], ready: threading.Event) -> None:
        ready.wait()
        while not stopping.is_set():
            self.run_due(clock())
            stopping.wait(1.0)
