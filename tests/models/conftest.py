"""A small demo shop in a store, shared by the predictive-model tests."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from segmint.demo import story

CUSTOMERS = 700


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's files and store, built once; tests that write use ``demo_copy``."""
    directory = tmp_path_factory.mktemp("models-demo")
    demo = story.prepare(directory, customers=CUSTOMERS, seed=11)
    story.collect(demo)
    assert demo.store is not None
    demo.store.close()
    return directory


@pytest.fixture(scope="session")
def demo(demo_dir: Path) -> Iterator[story.Demo]:
    """The demo store opened read-only."""
    from segmint.config import load_config
    from segmint.demo import DEFAULT_NOW
    from segmint.store.store import Store

    with Store(demo_dir / "segmint.duckdb", read_only=True) as store:
        yield story.Demo(demo_dir, load_config(demo_dir / "segmint.yaml"), DEFAULT_NOW, store=store)


@pytest.fixture
def demo_copy(demo_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the demo directory, to write to."""
    target = tmp_path / "demo"
    shutil.copytree(demo_dir, target, ignore=shutil.ignore_patterns("*.wal"))
    return target


@pytest.fixture(autouse=True)
def _quiet_convergence() -> Iterator[None]:
    # BG/NBD on the demo shop runs to the boundary (every customer drops out
    # with the same probability); lifetime.py handles that limit.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="maximum likelihood did not converge")
        yield
