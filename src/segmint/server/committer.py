"""Group commit: many requests, one transaction, every request answered after it.

Requests hand their staged messages to :meth:`GroupCommitter.submit` and
wait on the returned future; the collector's requests come already judged
(validated in the request handler, so that the writer's time goes to
deduplication and the commit alone). A writer thread takes everything
waiting and inserts it as one transaction; a committer thread commits the
transactions in order, runs the post-commit hooks (live profiles,
real-time segments) and only then resolves the futures, so a 200 always
means durable and visible. Under load the batches grow by themselves:
whatever arrived while the last group was inserted goes into the next one.

The two overlap (a pipeline two groups deep): a COMMIT spends most of its
time waiting for the disk, and the next group is inserted meanwhile, on a
connection of its own. The ingestor decides each group against the keys
of the groups in flight before it, so a retry is never stored twice, and a
failed commit fails every group behind it too (see ``Ingestor.commit``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, InvalidStateError
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from segmint.ingest.ingestor import Failure, IngestResult, Ingestor, PendingCommit, valid_mask
from segmint.ingest.staging import concat

log = logging.getLogger("segmint.server")

CommitHook = Callable[[IngestResult], None]


@dataclass
class _Pending:
    staged: pa.Table | None  # None when the submitter judged the messages itself
    future: Future[IngestResult]
    store_failures: bool = True  # False: a replay of failed messages, committed on its own
    judged: pa.Table | None = None  # the messages judged by the submitter (``Ingestor.judge``)

    @property
    def rows(self) -> int:
        return self.judged.num_rows if self.judged is not None else self.staged.num_rows


class GroupCommitter:
    """Stores what requests submit, a group per transaction, ``depth`` groups in flight.

    Two threads: the writer gathers a group, judges what its handlers did not,
    deduplicates and inserts it on a free connection (``Ingestor.prepare``)
    and hands it on; the committer commits the groups in that order, runs
    the hooks, answers the requests and frees the connection. So while one
    group's COMMIT waits for its fsync, the next one is being inserted.
    """

    def __init__(
        self,
        ingestor: Ingestor,
        hooks: list[CommitHook] | None = None,
        max_wait_s: float = 0.002,
        max_batch_rows: int = 50_000,
        depth: int = 2,
    ) -> None:
        self._ingestor = ingestor
        self._hooks = list(hooks or [])
        self._max_wait = max_wait_s
        self._max_rows = max_batch_rows
        self._depth = depth
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._held: list[_Pending | None] = []  # taken from the queue, for the next group
        self._prepared: queue.Queue[_Prepared | None] = queue.Queue()
        self._cursors: queue.Queue[duckdb.DuckDBPyConnection] = queue.Queue()
        self._writer = threading.Thread(target=self._run, name="segmint-writer", daemon=True)
        self._committer = threading.Thread(target=self._commit_loop, name="segmint-committer", daemon=True)
        self._gate = threading.Lock()  # held while a group is prepared; see ``lock``
        self._idle = threading.Condition()
        self._in_flight = 0  # groups prepared and not yet answered
        self.commits = 0

    def add_hook(self, hook: CommitHook) -> None:
        self._hooks.append(hook)

    def start(self) -> None:
        for _ in range(self._depth):
            self._cursors.put(self._ingestor.cursor())
        self._writer.start()
        self._committer.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=30)
        self._committer.join(timeout=30)
        while not self._cursors.empty():
            self._cursors.get_nowait().close()

    def submit(
        self, staged: pa.Table | None = None, *, store_failures: bool = True, judged: pa.Table | None = None
    ) -> Future[IngestResult]:
        """Queue messages for the next commit: ``staged``, or ``judged`` (already judged: ``Ingestor.judge``)."""
        if (staged is None) == (judged is None):
            raise ValueError("submit either staged messages or judged ones")
        future: Future[IngestResult] = Future()
        self._queue.put(_Pending(staged, future, store_failures, judged))
        return future

    @property
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the writer: no group starts, and every group in flight is answered, until released.

        For other writers of the store (maintenance jobs), so that their
        statements never interleave with a group commit.
        """
        with self._gate:
            self._wait_idle()
            yield

    def _wait_idle(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0)

    # ---- the writer thread ---------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                con = self._cursors.get()  # at most ``depth`` groups in flight
                group = self._next_group()
                if group is None:
                    self._cursors.put(con)
                    return
                self._prepare(group, con)
        finally:
            self._prepared.put(None)

    def _next_group(self) -> list[_Pending] | None:
        """Everything waiting (up to max_batch_rows), or None to stop."""
        # Requests already waiting when the writer comes free are company
        # enough: waiting for more would only lengthen every commit under
        # load. An idle writer waits up to max_wait for concurrent requests.
        backlog = bool(self._held) or not self._queue.empty()
        first = self._held.pop() if self._held else self._queue.get()
        if first is None or not first.store_failures:  # stop; or a replay, committed on its own
            return None if first is None else [first]
        group = [first]
        rows = first.rows
        deadline = time.monotonic() + (0.0 if backlog else self._max_wait)
        while rows < self._max_rows:
            timeout = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None or not item.store_failures:
                self._held.append(item)  # the group ends here; the item starts the next
                break
            group.append(item)
            rows += item.rows
        return group

    def _prepare(self, group: list[_Pending], con: duckdb.DuckDBPyConnection) -> None:
        try:
            judged = self._judged(group)
            store_failures = group[0].store_failures
            if store_failures and not valid_mask(judged).all():
                # Keeping a failed message once reads the committed store:
                # such a group waits until nothing else is in flight.
                self._wait_idle()
            with self._gate:
                pending = self._ingestor.prepare(
                    judged, con, want_rows=bool(self._hooks), store_failures=store_failures
                )
                with self._idle:
                    self._in_flight += 1
        except BaseException as error:  # nothing was written: every request fails
            log.exception("commit failed")
            self._cursors.put(con)
            _fail(group, error)
            return
        self._prepared.put(_Prepared(group, pending, con))

    def _judged(self, group: list[_Pending]) -> pa.Table:
        """The group's messages judged, numbered as ``concat`` numbers their staged rows."""
        if all(p.judged is None for p in group):
            return self._ingestor.judge(concat([p.staged for p in group if p.staged is not None]))
        parts = [p.judged if p.judged is not None else self._ingestor.judge(p.staged) for p in group]
        # SQL and Python judging agree on values; the SQL side names UTC "Etc/UTC".
        schema = parts[0].schema
        whole = (
            pa.concat_tables([part if part.schema.equals(schema) else part.cast(schema) for part in parts])
            if len(parts) > 1
            else parts[0]
        )
        return whole.set_column(0, "ord", pa.array(np.arange(whole.num_rows), pa.int64()))

    # ---- the committer thread ------------------------------------------------

    def _commit_loop(self) -> None:
        while (item := self._prepared.get()) is not None:
            try:
                self._commit(item)
            finally:
                with self._idle:
                    self._in_flight -= 1
                    self._idle.notify_all()

    def _commit(self, item: _Prepared) -> None:
        try:
            result = self._ingestor.commit(item.pending)
            self.commits += 1
        except BaseException as error:  # nothing was committed: every request fails
            log.exception("commit failed")
            _fail(item.group, error)
            return
        finally:
            self._cursors.put(item.con)  # the next group may be inserted while the hooks run
        for hook in self._hooks:
            try:
                hook(result)
            except Exception:  # a hook must never turn a durable write into an error
                log.exception("post-commit hook failed")
        offset = 0
        for pending in item.group:
            count = pending.rows
            _answer(pending.future, result=_slice(result, offset, count))
            offset += count


@dataclass
class _Prepared:
    group: list[_Pending]
    pending: PendingCommit
    con: duckdb.DuckDBPyConnection


def _fail(group: list[_Pending], error: BaseException) -> None:
    for pending in group:
        _answer(pending.future, error=error)


def _answer(future: Future[IngestResult], result: IngestResult | None = None, error: BaseException | None = None) -> None:
    """Resolve a request's future, unless it was cancelled (its client went away): the group goes on."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]
    except InvalidStateError:
        pass


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
