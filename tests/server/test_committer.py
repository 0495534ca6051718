"""The group committer: requests judged by their handlers and staged ones share a commit;
a group is inserted while the one before it commits, and every guarantee holds across them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import orjson
import pytest

from segmint.ingest import ingestor as ingestor_module
from segmint.ingest.ingestor import CommitAborted, Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.ingest.validate import judge
from segmint.server.committer import GroupCommitter
from segmint.store.store import Store

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


def track(message_id: str) -> str:
    return orjson.dumps({"type": "track", "event": "E", "userId": "u", "messageId": message_id}).decode()


@pytest.mark.parametrize("sql_from", [10**9, 2], ids=["python-judged", "sql-judged"])
def test_judged_and_staged_requests_in_one_commit(tmp_path, monkeypatch, sql_from):
    # sql_from: from how many messages the writer judges a staged request in SQL
    monkeypatch.setattr(ingestor_module, "PYTHON_PATH_MAX_ROWS", sql_from)
    with Store(tmp_path / "s.duckdb") as store:
        committed = []
        committer = GroupCommitter(Ingestor(store), [committed.append], max_wait_s=0.5)
        arrival = Arrival("web", NOW, "test")
        first = stage([track("a"), "not json", track("b")], arrival)
        second = stage([track("b"), track("c"), track("d")], arrival)
        third = stage([track("a"), "{}"], arrival)
        futures = [
            committer.submit(judged=judge(first)),
            committer.submit(second),  # judged by the writer
            committer.submit(judged=judge(third)),
        ]
        committer.start()
        try:
            results = [f.result(timeout=30) for f in futures]
        finally:
            committer.stop()
        assert committer.commits == 1 and len(committed) == 1
        assert [(r.accepted, r.duplicates, [f.ord for f in r.failures]) for r in results] == [
            (2, 0, [1]), (2, 1, []), (0, 1, [1])
        ]
        assert [list(r.accepted_ords) for r in results] == [[0, 2], [1, 2], []]
        ids = store.query("SELECT message_id FROM events ORDER BY seq").column(0).to_pylist()
        assert ids == ["a", "b", "c", "d"]
        assert store.query("SELECT count(*) FROM failed_messages").column(0)[0].as_py() == 2


def test_an_idle_writer_waits_for_company(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        committer = GroupCommitter(Ingestor(store), max_wait_s=2.0)
        committer.start()
        try:
            arrival = Arrival("web", NOW, "test")
            first = committer.submit(stage([track("a")], arrival))
            time.sleep(0.05)  # the writer has taken the first and waits for more
            second = committer.submit(stage([track("b")], arrival))
            assert first.result(timeout=30).accepted == second.result(timeout=30).accepted == 1
        finally:
            committer.stop()
        assert committer.commits == 1


def test_a_request_whose_client_went_away_does_not_stop_its_group(tmp_path):
    """A handler cancelled mid-wait cancels its future; the others in its group, and later groups, are answered."""
    with Store(tmp_path / "s.duckdb") as store:
        committer = GroupCommitter(Ingestor(store), max_wait_s=0.5)
        arrival = Arrival("web", NOW, "test")
        first = committer.submit(stage([track("a")], arrival))
        gone = committer.submit(stage([track("b")], arrival))
        third = committer.submit(stage([track("c")], arrival))
        assert gone.cancel()
        committer.start()
        try:
            assert first.result(timeout=30).accepted == third.result(timeout=30).accepted == 1
            later = committer.submit(stage([track("d")], arrival))
            assert later.result(timeout=30).accepted == 1
        finally:
            committer.stop()
        # Its messages were stored all the same: a retry would be a duplicate, never a loss.
        assert store.query("SELECT count(*) AS n FROM events").to_pylist() == [{"n": 4}]


# ---- the pipeline: a group is inserted while the one before it commits ----


class Blocked:
    """COMMITs that wait for the test's word, or fail when told to."""

    def __init__(self, monkeypatch, ingestor):
        self.committing = threading.Event()
        self.release = threading.Event()
        self.fail: Exception | None = None
        self.prepared = 0
        self._calls = 0
        real_end, real_prepare = ingestor_module.end_transaction, ingestor.prepare

        def end_transaction(con):
            self._calls += 1
            if self._calls == 1:  # the first commit waits, as if for a slow disk
                self.committing.set()
                assert self.release.wait(30)
                if self.fail is not None:
                    raise self.fail
            real_end(con)

        def prepare(*args, **kwargs):
            pending = real_prepare(*args, **kwargs)
            self.prepared += 1
            return pending

        monkeypatch.setattr(ingestor_module, "end_transaction", end_transaction)
        monkeypatch.setattr(ingestor, "prepare", prepare)

    def wait_prepared(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while self.prepared < count:
            assert time.monotonic() < deadline, f"{self.prepared} groups prepared, waited for {count}"
            time.sleep(0.005)


def pipeline(store, monkeypatch):
    ingestor = Ingestor(store)
    blocked = Blocked(monkeypatch, ingestor)
    committed = []
    committer = GroupCommitter(ingestor, [committed.append], max_wait_s=0.0)
    committer.start()
    return committer, blocked, committed


def test_a_retry_in_the_next_group_is_a_duplicate_answered_after_the_first_commits(tmp_path, monkeypatch):
    with Store(tmp_path / "s.duckdb") as store:
        committer, blocked, committed = pipeline(store, monkeypatch)
        arrival = Arrival("web", NOW, "test")
        try:
            first = committer.submit(stage([track("k"), track("a")], arrival))
            assert blocked.committing.wait(30)
            second = committer.submit(stage([track("k"), track("b")], arrival))
            blocked.wait_prepared(2)  # inserted while the first group's COMMIT runs
            time.sleep(0.05)
            assert not first.done() and not second.done()  # "k" is not durable yet
            blocked.release.set()
            a, b = first.result(timeout=30), second.result(timeout=30)
        finally:
            committer.stop()
        assert (a.accepted, a.duplicates, b.accepted, b.duplicates) == (2, 0, 1, 1)
        assert [(r.first_seq, r.last_seq) for r in committed] == [(1, 2), (3, 3)]  # each once, in order
        rows = store.query("SELECT seq, message_id FROM events ORDER BY seq").to_pylist()
        assert [(r["seq"], r["message_id"]) for r in rows] == [(1, "k"), (2, "a"), (3, "b")]


def test_a_failed_commit_fails_the_group_behind_it_and_loses_nothing(tmp_path, monkeypatch):
    with Store(tmp_path / "s.duckdb") as store:
        committer, blocked, committed = pipeline(store, monkeypatch)
        arrival = Arrival("web", NOW, "test")
        try:
            first = committer.submit(stage([track("k"), track("a")], arrival))
            assert blocked.committing.wait(30)
            second = committer.submit(stage([track("k"), track("b")], arrival))
            blocked.wait_prepared(2)
            blocked.fail = OSError("no space left on device")
            blocked.release.set()
            with pytest.raises(OSError):
                first.result(timeout=30)
            # Its "k" was dropped as a retry of the failed group's: a 200 would lose it.
            with pytest.raises(CommitAborted):
                second.result(timeout=30)
            assert committed == [] and store.query("SELECT count(*) FROM events").column(0)[0].as_py() == 0
            # The clients retry, in any order: everything is stored once, numbered from 1.
            retry_second = committer.submit(stage([track("k"), track("b")], arrival)).result(timeout=30)
            retry_first = committer.submit(stage([track("k"), track("a")], arrival)).result(timeout=30)
        finally:
            committer.stop()
        assert (retry_second.accepted, retry_first.accepted, retry_first.duplicates) == (2, 1, 1)
        assert [(r.first_seq, r.last_seq) for r in committed] == [(1, 2), (3, 3)]
        rows = store.query("SELECT seq, message_id FROM events ORDER BY seq").to_pylist()
        assert [(r["seq"], r["message_id"]) for r in rows] == [(1, "k"), (2, "b"), (3, "a")]


def test_a_group_that_stores_failures_waits_for_the_groups_in_flight(tmp_path, monkeypatch):
    # "bad" is kept once: the second group must see the first's failure committed.
    with Store(tmp_path / "s.duckdb") as store:
        committer, blocked, _ = pipeline(store, monkeypatch)
        arrival = Arrival("web", NOW, "test")
        try:
            first = committer.submit(stage([track("a"), "bad"], arrival))
            assert blocked.committing.wait(30)
            second = committer.submit(stage(["bad", track("b")], arrival))
            time.sleep(0.1)
            assert blocked.prepared == 1
            blocked.release.set()
            results = [first.result(timeout=30), second.result(timeout=30)]
        finally:
            committer.stop()
        assert [(r.accepted, r.failed) for r in results] == [(1, 1), (1, 1)]
        assert store.query("SELECT count(*) FROM failed_messages").column(0)[0].as_py() == 1


def test_the_lock_holds_the_writer_until_released(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        committer = GroupCommitter(Ingestor(store), max_wait_s=0.0)
        committer.start()
        try:
            with committer.lock:
                future = committer.submit(stage([track("a")], Arrival("web", NOW, "test")))
                time.sleep(0.1)
                assert not future.done()
            assert future.result(timeout=30).accepted == 1
        finally:
            committer.stop()


def test_concurrent_retries_across_groups_are_stored_once_in_seq_order(tmp_path):
    # Clients retry each other's messages while groups overlap in the pipeline.
    with Store(tmp_path / "s.duckdb") as store:
        committed = []
        committer = GroupCommitter(Ingestor(store), [committed.append], max_wait_s=0.0)
        committer.start()
        arrival = Arrival("web", NOW, "test")

        def client(seed: int) -> list[int]:
            accepted = []
            for round_ in range(15):
                ids = [f"m{(seed * 7 + round_ * 3 + i) % 60}" for i in range(5)]
                accepted.append(committer.submit(stage([track(m) for m in ids], arrival)).result(timeout=30).accepted)
            return accepted

        try:
            with ThreadPoolExecutor(6) as pool:
                accepted = sum(sum(a) for a in pool.map(client, range(6)))
        finally:
            committer.stop()
        ids = store.query("SELECT message_id FROM events ORDER BY seq").column(0).to_pylist()
        assert len(ids) == len(set(ids)) == accepted
        assert store.query("SELECT seq FROM events ORDER BY seq").column(0).to_pylist() == list(range(1, accepted + 1))
        ranges = [(r.first_seq, r.last_seq) for r in committed if r.accepted]
        assert [first for first, _ in ranges] == [1] + [last + 1 for _, last in ranges[:-1]]
        assert committer.commits > 1
