"""A demo shop built once for the clustering tests: a store and its planted personas."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from segmint.demo import DEFAULT_NOW
from segmint.demo import story
from segmint.store.store import Store

CUSTOMERS = 500


@dataclass(frozen=True)
class Shop:
    directory: Path
    db_path: Path
    config_path: Path
    truth: pd.Series  # planted persona by profile id


@pytest.fixture(scope="session")
def clustering_shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    demo = story.prepare(tmp_path_factory.mktemp("cluster-shop"), customers=CUSTOMERS, seed=11, now=DEFAULT_NOW)
    story.collect(demo)
    assert demo.store is not None and demo.files is not None
    demo.store.close()
    truth = pd.read_csv(demo.files.personas_path).set_index("profile_id")["persona"]
    return Shop(demo.directory, demo.db_path, demo.directory / "segmint.yaml", truth)


@pytest.fixture
def shop_store(clustering_shop: Shop) -> Iterator[Store]:
    """The shop's store, read-only (tests that write copy it first)."""
    with Store(clustering_shop.db_path, read_only=True) as store:
        yield store
