"""`segmint serve` keeps the predictive models fresh: its job trains, registers and scores."""

from __future__ import annotations

import time

from segmint.clock import FixedClock
from segmint.config import load_config
from segmint.config.model import ModelsConfig
from segmint.demo import DEFAULT_NOW
from segmint.models.registry import list_models
from segmint.server.runtime import Runtime


def test_the_server_job_trains_registers_and_publishes_scores(demo_copy):
    # The demo's configuration with a `models:` section, which is what turns the job on.
    config = load_config(demo_copy / "segmint.yaml").model_copy(update={"models": ModelsConfig()})
    runtime = Runtime(config, demo_copy / "segmint.duckdb", clock=FixedClock(DEFAULT_NOW))
    assert [job.name for job in runtime.maintenance.jobs] == ["predictive models"]
    runtime.start("http://127.0.0.1:1")
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and "predictive models" not in runtime.maintenance.last_run:
            time.sleep(0.5)
        while time.monotonic() < deadline:
            scored = runtime.store.query(
                "SELECT count(*) AS n FROM profiles WHERE traits->>'churn_probability' IS NOT NULL"
            ).to_pylist()[0]["n"]
            if scored or runtime.maintenance.last_error:
                break
            time.sleep(0.5)
        assert runtime.maintenance.last_error == {}
        assert {r.name for r in list_models(runtime.store)} == {"churn", "propensity", "clv"}
        counts = runtime.store.query(
            "SELECT count(*) AS everyone, count(traits->>'purchase_propensity') AS propensity FROM profiles"
        ).to_pylist()[0]
        customers = runtime.store.query(
            """SELECT count(DISTINCT i.profile_id) AS n FROM events e JOIN identities i
               ON (i.kind = 'user_id' AND i.value = e.user_id) OR (i.kind = 'anonymous_id' AND i.value = e.anonymous_id)
               WHERE e.event = 'Order Completed'"""
        ).to_pylist()[0]["n"]
        # Propensity is scored for every profile seen by now; churn only for customers (docs/models.md).
        assert counts["propensity"] == counts["everyone"] > scored == customers > 0
    finally:
        runtime.stop()
