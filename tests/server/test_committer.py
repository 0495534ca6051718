"""The group committer: requests judged by their handlers and staged ones share a commit."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import orjson
import pytest

from segmint.ingest import ingestor as ingestor_module
from segmint.ingest.ingestor import Ingestor
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
            committer.submit(first, judged=judge(first)),
            committer.submit(second),  # judged by the writer
            committer.submit(third, judged=judge(third)),
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
