"""Shared fixtures for the segment tests.

``spark`` is one local Spark session for the whole test session (starting
one takes seconds); tests that need it fail, rather than skip, when Spark
cannot start, because the Spark evaluator is part of the product.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from segmint.config.model import IdentityConfig


@pytest.fixture
def identity() -> IdentityConfig:
    return IdentityConfig()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession  # an ImportError fails the Spark tests

    session = (
        SparkSession.builder.master("local[1]")
        .appName("segmint-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
