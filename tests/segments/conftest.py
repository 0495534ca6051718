"""Shared fixtures for the segment tests.

``spark`` is one local Spark session for the whole test session (starting
one takes seconds); tests that need it fail, rather than skip, when Spark
cannot start, because the Spark evaluator is part of the product.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from segmint.segments.batch import local_spark  # an ImportError fails the Spark tests

    session = local_spark(cores=1, app_name="segmint-tests")
    yield session
    session.stop()
