"""Shared fixtures: temporary stores and configurations."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

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
