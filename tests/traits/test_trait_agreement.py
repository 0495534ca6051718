"""Batch, real time and the reference give the same computed traits, and the same segments reading them.

Random trait definitions of every kind, random message streams (arrival
order differs from timestamps; anonymous ids joined later), several
instants: the DuckDB query (``compute_traits``), the real-time evaluator
(fed in arrival order, its clock moving) and ``trait_reference`` must give
every profile the same values; segments with ``trait:`` conditions on the
computed traits must have the same members in all three.

Numbers compare as doubles with a relative tolerance of 1e-9: batch sums
DOUBLEs (compensated), the others sum exactly and round once (see the
float-sum note in tests/segments/test_agreement.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from strategies import START, STEP, Stream, identities, ingest, stored_rows
from trait_reference import reference_memberships, reference_traits
from trait_strategies import instants, segments_reading, streams, trait_definitions

from segmint.config.model import IdentityConfig
from segmint.segments.parse import LoadedSegments, load_segments
from segmint.traits.definition import KINDS

EXAMPLES = 10  # traits of any kinds together
PER_KIND = 3  # and traits of one kind, for each kind


@dataclass(frozen=True)
class Case:
    traits: dict[str, Any]
    segments: dict[str, Any]
    identity: IdentityConfig
    stream: Stream
    instants: list[datetime]

    def loaded(self) -> LoadedSegments:
        loaded = load_segments(self.segments, self.traits)
        assert loaded.traits is not None and not loaded.traits.errors, loaded.traits.errors
        assert not loaded.errors, loaded.errors
        return loaded

    def describe(self) -> str:
        lines = ["traits:"] + [f"  {n}: {json.dumps(b)}" for n, b in self.traits.items()]
        lines += ["segments:"] + [f"  {n}: {json.dumps(b)}" for n, b in self.segments.items()]
        lines.append(f"identity: {self.identity.model_dump(exclude_defaults=True) or 'default'}")
        lines += ["messages in arrival order:"] + [f"  {json.dumps(m)}" for m in self.stream.messages]
        lines.append("instants: " + ", ".join(f"{t.isoformat()} (tick {(t - START) / STEP:g})" for t in self.instants))
        return "\n".join(lines)


@st.composite
def cases(draw: st.DrawFn, count: int = 4, kind: str | None = None) -> Case:
    traits = draw(trait_definitions(kind=kind))
    return Case(traits, draw(segments_reading(traits)), draw(identities), draw(streams()), draw(instants(count)))


def _kind(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "num"
    return type(value).__name__


def same(a: Any, b: Any) -> bool:
    """Equal as trait values: same kind; numbers as doubles within 1e-9 (relative)."""
    if _kind(a) != _kind(b):
        return False
    if _kind(a) == "num":
        return a == b or math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def plain(frame: Any) -> dict[str, dict[str, Any]]:
    """A ``compute_traits`` table as {profile: {trait: value}} (pandas NA as None)."""
    import pandas as pd

    out = {}
    for row in frame.to_dict("records"):
        pid = row.pop("profile_id")
        out[pid] = {k: (None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v) for k, v in row.items()}
        out[pid] = {k: (int(v) if hasattr(v, "is_integer") and type(v).__name__.startswith("int") else v) for k, v in out[pid].items()}
    return out


def assert_same_values(expected: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]], who: str, case: Case, at: datetime) -> None:
    problems = []
    if sorted(expected) != sorted(got):
        problems.append(f"profiles: reference {sorted(expected)}, {who} {sorted(got)}")
    for pid in sorted(set(expected) & set(got)):
        for name, want in expected[pid].items():
            have = got[pid].get(name, "<absent>")
            if not same(want, have):
                problems.append(f"{pid}.{name}: reference {want!r}, {who} {have!r}")
    assert not problems, f"{who} disagrees at {at.isoformat()}:\n  " + "\n  ".join(problems) + "\n" + case.describe()


def realtime_run(case: Case, rows: list[dict[str, Any]]) -> dict[datetime, tuple[dict[str, Any], dict[str, list[str]]]]:
    """Feed rows in arrival order once visible, the clock following them; values and members at each instant."""
    from segmint.segments.realtime import RealtimeEvaluator

    evaluator = RealtimeEvaluator(case.loaded(), case.identity)
    pending, clock, out = list(rows), None, {}
    for at in case.instants:
        due = [r for r in pending if r["event_time"] <= at]
        pending = [r for r in pending if r["event_time"] > at]
        for row in due:
            evaluator.feed([row])
            if clock is None or row["event_time"] > clock:
                clock = row["event_time"]
                evaluator.advance(clock)
        clock = at
        evaluator.advance(at)
        out[at] = (evaluator.computed_traits(), evaluator.memberships())
    return out


def _check(case: Case, realtime: bool, batch: bool) -> None:
    from segmint.segments.batch import evaluate_duckdb
    from segmint.traits.batch import compute_traits

    loaded = case.loaded()
    store = ingest(case.stream.messages)
    try:
        rows = stored_rows(store)
        live = realtime_run(case, rows) if realtime else {}
        for at in case.instants:
            expected = reference_traits(rows, loaded.computed, case.identity, at)
            members = reference_memberships(rows, loaded, case.identity, at)
            if batch:
                got = plain(compute_traits(store.connection, loaded.computed.values(), case.identity, at))
                assert_same_values(expected, got, "duckdb", case, at)
                batch_members = evaluate_duckdb(store.connection, loaded, case.identity, at)
                assert batch_members == members, f"duckdb segments at {at}: {batch_members} != {members}\n{case.describe()}"
            if realtime:
                values, realtime_members = live[at]
                assert_same_values(expected, values, "realtime", case, at)
                assert realtime_members == members, f"realtime segments at {at}: {realtime_members} != {members}\n{case.describe()}"
    finally:
        store.close()


ENGINES = {"duckdb": {"realtime": False, "batch": True}, "realtime": {"realtime": True, "batch": False}}


def _agree(engine: str, examples: int, drawn: st.SearchStrategy[Case]) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=drawn)
    def agree(case: Case) -> None:
        note(case.describe())
        _check(case, **ENGINES[engine])

    agree()


@pytest.mark.parametrize("engine", list(ENGINES))
def test_agrees_with_the_reference(engine: str) -> None:
    _agree(engine, EXAMPLES, cases())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("engine", list(ENGINES))
def test_agrees_with_the_reference_on_each_kind(engine: str, kind: str) -> None:
    _agree(engine, PER_KIND, cases(kind=kind))


SPARK_EXAMPLES = 3  # each example starts Spark jobs per instant: seconds, not milliseconds


def test_segments_reading_computed_traits_agree_on_spark(small_spark: Any) -> None:
    """The same segments, compiled for Spark (computed traits joined into its query), have the reference's members."""
    import tempfile
    from pathlib import Path

    from segmint.segments.batch import evaluate_spark, export_inputs

    @settings(max_examples=SPARK_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=cases(count=2))
    def agree(case: Case) -> None:
        note(case.describe())
        loaded = case.loaded()
        store = ingest(case.stream.messages)
        try:
            rows = stored_rows(store)
            with tempfile.TemporaryDirectory() as scratch:
                for i, at in enumerate(case.instants):
                    inputs = export_inputs(small_spark, store.connection, case.identity, at, Path(scratch) / str(i))
                    members = evaluate_spark(small_spark, inputs, loaded, at)
                    expected = reference_memberships(rows, loaded, case.identity, at)
                    assert members == expected, f"spark segments at {at}: {members} != {expected}\n{case.describe()}"
        finally:
            store.close()

    agree()
