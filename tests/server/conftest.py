"""Fixtures: real ``segmint serve`` processes (see ``serverkit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from serverkit import SegmintServer


def _managed(workdir: Path) -> Iterator[SegmintServer]:
    server = SegmintServer(workdir)
    try:
        yield server.start()
    finally:
        server.stop()
        server.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SegmintServer]:
    """A running server over a fresh store, for this test alone."""
    yield from _managed(tmp_path / "segmint")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., SegmintServer]]:
    """Servers the test starts (and restarts, and kills) itself; all stopped at teardown."""
    made: list[SegmintServer] = []

    def make(name: str = "segmint") -> SegmintServer:
        made.append(SegmintServer(tmp_path / name))
        return made[-1]

    try:
        yield make
    finally:
        for one in made:
            one.stop()
            one.kill()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SegmintServer]:
    """One server for a whole module; its tests use unique ids to stay apart."""
    yield from _managed(tmp_path_factory.mktemp("shared") / "segmint")
