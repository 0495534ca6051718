"""Shared fixtures: temporary stores and configurations, and one local Spark session.

``spark`` is one local Spark session for the whole test session (starting
one takes seconds); tests that need it fail, rather than skip, when Spark
cannot start, because the Spark evaluator is part of the product.
``small_spark`` is that session tuned for a few rows while one module runs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from segmint.clock import FixedClock
from segmint.store.store import Store

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def store(tmp_path: Path):
    opened = Store(tmp_path / "segmint.duckdb")
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from segmint.segments.batch import (
        local_spark,  # an ImportError fails the Spark tests
    )

    session = local_spark(cores=1, app_name="segmint-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def small_spark(spark: Any) -> Iterator[Any]:
    """The shared session with ``SMALL_DATA_SETTINGS`` (no codegen, no AQE) for one module."""
    from segmint.segments.batch.spark_engine import SMALL_DATA_SETTINGS

    before = {key: spark.conf.get(key, None) for key in SMALL_DATA_SETTINGS}
    for key, value in SMALL_DATA_SETTINGS.items():
        spark.conf.set(key, value)
    yield spark
    for key, value in before.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)
