"""Server background jobs: they run after the first rebuild, write through the
single writer, and a failing job never stops the others."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pandas as pd

from segmint.config.model import Config
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.server.maintenance import Job, JobContext
from segmint.server.runtime import Runtime
from segmint.store.store import Store
from segmint.traits.publish import profile_user_ids, publish_traits

from serverkit import wait_until


def _message(user: str) -> str:
    return orjson.dumps(
        {"type": "identify", "userId": user, "traits": {"plan": "free"}, "messageId": f"m-{user}", "timestamp": "2026-11-01T00:00:00Z"}
    ).decode()


def test_jobs_publish_traits_through_the_committer_and_failures_are_contained(tmp_path: Path):
    ran = threading.Event()

    def score(context: JobContext) -> None:
        context.store.rebuild_profiles()
        users = profile_user_ids(context.store)
        values = pd.DataFrame({"profile_id": sorted(users), "score": range(len(users))})
        publish_traits(context.store, users, values, producer="test", at=datetime(2026, 11, 2, tzinfo=timezone.utc))
        context.store.rebuild_profiles()
        ran.set()

    def broken(context: JobContext) -> None:
        raise RuntimeError("boom")

    with Store(tmp_path / "s.duckdb") as store:
        Ingestor(store).ingest(stage([_message("u1"), _message("u2")], Arrival("web", datetime.now(timezone.utc), "test")))
    runtime = Runtime(Config(), tmp_path / "s.duckdb", jobs=[Job("broken", 3600, broken), Job("score", 3600, score)])
    runtime.start("http://127.0.0.1:1")
    try:
        assert ran.wait(30)
        rows = wait_until(lambda: runtime.store.query("SELECT profile_id, traits->>'score' AS s FROM profiles ORDER BY 1").to_pylist())
        assert [(r["profile_id"], r["s"]) for r in rows] == [("u1", "0"), ("u2", "1")]
        assert runtime.maintenance.last_error == {"broken": "RuntimeError: boom"}
    finally:
        runtime.stop()
