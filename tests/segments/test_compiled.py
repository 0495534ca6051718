"""The compiled core (segmint/compiled.py) is built where it can be, and behaves exactly as its Python source.

The real-time evaluator's modules are compiled by Cython at install time
when a C compiler is there, and run as Python otherwise (or with
``SEGMINT_PURE_PYTHON=1``). The two must never differ: the same random
definitions and streams as the agreement tests are replayed by both, and
every change, membership, computed trait, wake-up and explanation compared.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from strategies import identities, ingest, instants, segment_definitions, stored_rows, streams
from twin import observe, restored

from segmint import compiled
from segmint.compiled import MODULES, PURE_ENV, status, summary

HERE = Path(__file__).parent


def _compiler() -> str | None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc)


@pytest.mark.skipif(_compiler() is None or compiled.pure_requested(),
                    reason=f"no C compiler here, or {PURE_ENV} is set: the core runs as Python")
def test_the_core_is_compiled_where_a_compiler_is() -> None:
    built = status()
    assert all(built.values()), f"not compiled (reinstall: pip install -e .): {[m for m, b in built.items() if not b]}"
    assert summary().startswith("compiled core: yes")


def test_the_pure_switch_runs_the_python_source() -> None:
    script = "import json; from segmint.compiled import status; print(json.dumps(status()))"
    out = subprocess.run([sys.executable, "-c", script], env={**os.environ, PURE_ENV: "1"}, check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out) == dict.fromkeys(MODULES, False)


@pytest.mark.skipif(not all(compiled._built(name) for name in MODULES) or compiled.pure_requested(),
                    reason=f"the core is not compiled here, or {PURE_ENV} is set")
def test_a_source_changed_since_the_build_runs_as_python(tmp_path: Path) -> None:
    """All or nothing: the compiled modules share C types, so one changed source sends them all to Python."""
    record = tmp_path / "record.json"
    record.write_text(json.dumps({name: compiled.source_digest(compiled._source(name)) for name in MODULES}
                                 | {MODULES[0]: "0" * 64}))
    missing = tmp_path / "none.json"  # a build that failed writes no record (setup.py)
    real = compiled.RECORD
    try:
        for compiled.RECORD, expected in ((record, f"changed since compiled: {MODULES[0]}"),
                                          (missing, f"no record of a complete build: {', '.join(MODULES)}")):
            compiled.why_pure.cache_clear()
            with pytest.warns(RuntimeWarning, match="runs as Python"):
                assert compiled.why_pure() == expected
    finally:
        compiled.RECORD = real
        compiled.why_pure.cache_clear()
    assert compiled.why_pure() is None  # the real record matches the sources


class Worker:
    """``twin.py`` in a process of its own, running the Python source."""

    def __init__(self) -> None:
        env = {**os.environ, PURE_ENV: "1", "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
        self.process = subprocess.Popen([sys.executable, str(HERE / "twin.py")], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
        self.status = pickle.load(self.process.stdout)  # type: ignore[arg-type]

    def ask(self, *request: Any) -> Any:
        pickle.dump(request, self.process.stdin)  # type: ignore[arg-type]
        self.process.stdin.flush()  # type: ignore[union-attr]
        kind, result = pickle.load(self.process.stdout)  # type: ignore[arg-type]
        assert kind == "ok", f"the pure-Python replay failed: {result}"
        return result

    def close(self) -> None:
        self.process.stdin.close()  # type: ignore[union-attr]
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def pure() -> Iterator[Worker]:
    worker = Worker()
    try:
        yield worker
    finally:
        worker.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segments=segment_definitions(), identity=identities, stream=streams(), moments=instants())
def test_compiled_and_pure_observe_the_same(pure: Worker, segments: dict[str, Any], identity: Any, stream: Any,
                                           moments: list[Any]) -> None:
    assert not any(pure.status.values()), "the worker imported compiled modules"
    store = ingest(stream.messages)
    try:
        rows = stored_rows(store)
    finally:
        store.close()
    note(f"segments: {segments}\nidentity: {identity}\nmessages: {stream.messages}\ninstants: {moments}")
    here, snapshot_here = observe(segments, identity, rows, moments)
    there, snapshot_there = pure.ask("observe", segments, identity, rows, moments)
    assert len(here) == len(there)
    for step, (mine, theirs) in enumerate(zip(here, there)):
        assert mine == theirs, f"step {step}: {'compiled' if any(status().values()) else 'here'} {mine!r}, pure {theirs!r}"
    # A snapshot is specific to the build that wrote it: the other build (a reinstall with or
    # without a compiler) refuses it, and the server rebuilds from the store. Never a wrong state.
    expected = "SnapshotError" if any(status().values()) else here[-1]
    assert restored(snapshot_there, segments, identity) == expected
    assert pure.ask("restore", snapshot_here, segments, identity) == expected
    assert pure.ask("restore", snapshot_there, segments, identity) == here[-1]
