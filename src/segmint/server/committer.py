"""Group commit: many requests, one transaction, every request answered after it.

Requests hand their staged messages to :meth:`GroupCommitter.submit` and
wait on the returned future; the collector's requests come already judged
(validated in the request handler, so that the writer's time goes to
deduplication and the commit alone). One writer thread takes everything
waiting, stores it in one transaction, runs the post-commit hooks (live
profiles, real-time segments) and only then resolves the futures, so a 200 always
means durable and visible. Under load the batches grow by themselves:
whatever arrived while the last commit ran goes into the next one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from segmint.ingest.ingestor import Failure, IngestResult, Ingestor
from segmint.ingest.staging import concat

log = logging.getLogger("segmint.server")

CommitHook = Callable[[IngestResult], None]


@dataclass
class _Pending:
    staged: pa.Table
    future: Future[IngestResult]
    store_failures: bool = True
    judged: pa.Table | None = None  # ``staged`` judged by the submitter, row for row


class GroupCommitter:
    def __init__(
        self,
        ingestor: Ingestor,
        hooks: list[CommitHook] | None = None,
        max_wait_s: float = 0.002,
        max_batch_rows: int = 50_000,
    ) -> None:
        self._ingestor = ingestor
        self._hooks = list(hooks or [])
        self._max_wait = max_wait_s
        self._max_rows = max_batch_rows
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="segmint-writer", daemon=True)
        self._lock = threading.Lock()  # serialises commits with other writers (e.g. replay)
        self.commits = 0

    def add_hook(self, hook: CommitHook) -> None:
        self._hooks.append(hook)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def submit(
        self, staged: pa.Table, *, store_failures: bool = True, judged: pa.Table | None = None
    ) -> Future[IngestResult]:
        """Queue ``staged`` for the next commit; ``judged`` is it already judged (``Ingestor.judge``)."""
        future: Future[IngestResult] = Future()
        self._queue.put(_Pending(staged, future, store_failures, judged))
        return future

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    def _run(self) -> None:
        while True:
            # Requests already waiting when the writer comes free are company
            # enough: waiting for more would only lengthen every commit under
            # load. An idle writer waits up to max_wait for concurrent requests.
            backlog = not self._queue.empty()
            first = self._queue.get()
            if first is None:
                return
            if not first.store_failures:  # a replay: committed on its own
                self._commit([first])
                continue
            group = [first]
            rows = first.staged.num_rows
            deadline = time.monotonic() + (0.0 if backlog else self._max_wait)
            stop = False
            while rows < self._max_rows:
                timeout = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=max(timeout, 0)) if timeout > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                if not item.store_failures:
                    self._commit(group)
                    group, rows = [], 0
                    self._commit([item])
                    continue
                group.append(item)
                rows += item.staged.num_rows
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Pending]) -> None:
        if not group:
            return
        try:
            with self._lock:
                result = self._ingestor.ingest_judged(
                    self._judged(group), want_rows=bool(self._hooks), store_failures=group[0].store_failures
                )
                self.commits += 1
        except BaseException as error:  # nothing was committed: every request fails
            log.exception("commit failed")
            for pending in group:
                pending.future.set_exception(error)
            return
        for hook in self._hooks:
            try:
                hook(result)
            except Exception:  # a hook must never turn a durable write into an error
                log.exception("post-commit hook failed")
        offset = 0
        for pending in group:
            count = pending.staged.num_rows
            pending.future.set_result(_slice(result, offset, count))
            offset += count

    def _judged(self, group: list[_Pending]) -> pa.Table:
        """The group's messages judged, numbered as ``concat`` numbers their staged rows."""
        if all(p.judged is None for p in group):
            return self._ingestor.judge(concat([p.staged for p in group]))
        parts = [p.judged if p.judged is not None else self._ingestor.judge(p.staged) for p in group]
        # SQL and Python judging agree on values; the SQL side names UTC "Etc/UTC".
        whole = pa.concat_tables([part.cast(parts[0].schema) for part in parts]) if len(parts) > 1 else parts[0]
        return whole.set_column(0, "ord", pa.array(np.arange(whole.num_rows), pa.int64()))


def _slice(result: IngestResult, offset: int, count: int) -> IngestResult:
    """One request's share of a group's result, with its own numbering."""
    end = offset + count
    accepted = result.accepted_ords[(result.accepted_ords >= offset) & (result.accepted_ords < end)]
    failures = [Failure(f.ord - offset, f.reason) for f in result.failures if offset <= f.ord < end]
    return IngestResult(
        received=count,
        accepted=len(accepted),
        duplicates=count - len(accepted) - len(failures),
        failures=failures,
        accepted_ords=np.asarray(accepted - offset, dtype=np.int64),
    )
