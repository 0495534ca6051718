"""Every evaluator agrees with the reference, for random definitions, streams and instants.

One contract, every engine: the batch evaluator on DuckDB and on Spark
(over a store built by ingesting the messages), and the real-time evaluator
(fed the same messages in arrival order, which differs from timestamp
order, its clock advancing as they come). At each instant each engine's
memberships must equal ``reference_memberships`` (tests/segments/reference.py).

An engine that cannot be imported fails its test: each is part of the
product. On a disagreement hypothesis shrinks the case and the failure
prints the definitions, the messages in arrival order, the instant and
both answers.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from reference import satisfies
from reference import reference_memberships as reference
from strategies import (
    SCALARS,
    START,
    STEP,
    Stream,
    identities,
    ingest,
    instants,
    segment_definitions,
    stored_rows,
    streams,
)

from segmint.config.model import IdentityConfig
from segmint.segments.changes import Change, Memberships
from segmint.segments.definition import OPERATORS, Comparison
from segmint.segments.parse import LoadedSegments, load_segments
from segmint.store.store import Store

# SEGMINT_AGREEMENT_SCALE=50 explores fifty times as many cases (for a long hunt, not for CI).
SCALE = float(os.environ.get("SEGMINT_AGREEMENT_SCALE", "1"))
EXAMPLES = int(80 * SCALE)
SPARK_EXAMPLES = int(8 * SCALE)


@dataclass(frozen=True)
class Case:
    segments: dict[str, Any]  # as written in segmint.yaml
    identity: IdentityConfig
    stream: Stream  # arrival order
    instants: list[datetime]  # ascending

    @property
    def loaded(self) -> LoadedSegments:
        loaded = load_segments(self.segments)
        assert not loaded.errors, loaded.errors
        return loaded

    def describe(self) -> str:
        def minute(at: datetime) -> str:
            return f"{at.isoformat()} (tick {(at - START) / STEP:g})"

        lines = ["segments:"]
        lines += [f"  {name}: {json.dumps(body)}" for name, body in self.segments.items()]
        lines.append(f"identity: {self.identity.model_dump(exclude_defaults=True) or 'default'}")
        lines.append("messages in arrival order (seq 1, 2, ...):")
        lines += [f"  {json.dumps(m)}" for m in self.stream.messages]
        lines.append("instants: " + ", ".join(minute(t) for t in self.instants))
        return "\n".join(lines)


cases = st.builds(Case, segment_definitions(), identities, streams(), instants())
few_instants = st.builds(Case, segment_definitions(), identities, streams(), instants(2))  # for slow engines


def disagreement(case: Case, engine: str, at: datetime, expected: Memberships, got: Memberships) -> str:
    diff = []
    for name in sorted(set(expected) | set(got)):
        want, have = expected.get(name), got.get(name)
        if want != have:
            diff.append(f"  {name}: reference {want}, {engine} {have}")
    return f"{engine} disagrees with the reference at {at.isoformat()}:\n" + "\n".join(diff) + "\n" + case.describe()


@contextmanager
def stored(case: Case) -> Iterator[tuple[Store, list[dict[str, Any]]]]:
    store = ingest(case.stream.messages)
    try:
        yield store, stored_rows(store)
    finally:
        store.close()


Engine = Callable[[Case, Store, list[dict[str, Any]]], dict[datetime, Memberships]]


def check(engine_name: str, engine: Engine, examples: int, drawn: st.SearchStrategy[Case] = cases) -> None:
    """Run ``engine`` on random cases; its answer at every instant must be the reference's."""

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=drawn)
    def agree(case: Case) -> None:
        note(case.describe())
        with stored(case) as (store, rows):
            answers = engine(case, store, rows)
            for at in case.instants:
                expected = reference(rows, case.loaded, case.identity, at)
                assert answers[at] == expected, disagreement(case, engine_name, at, expected, answers[at])

    agree()


# ---- the comparison rules themselves ----------------------------------------------

values = st.one_of(
    st.none(), st.sampled_from(SCALARS), st.integers(-3, 3), st.floats(-3, 3, allow_nan=False, width=32),
    st.lists(st.sampled_from(SCALARS), max_size=3), st.fixed_dictionaries({"k": st.sampled_from(SCALARS)}),
)  # fmt: skip


def operands(op: str) -> st.SearchStrategy[Any]:
    scalar = st.one_of(st.sampled_from(SCALARS), st.integers(-3, 3))
    ordered = scalar.filter(lambda v: not isinstance(v, bool))
    if op in ("in", "not_in"):
        return st.lists(st.one_of(scalar, st.none()), max_size=3).map(tuple)
    if op == "between":
        return st.tuples(ordered, ordered)
    if op == "exists":
        return st.booleans()
    if op in ("gt", "gte", "lt", "lte"):
        return ordered
    return st.one_of(scalar, st.none())


comparisons = st.sampled_from(OPERATORS).flatmap(lambda op: operands(op).map(lambda v: Comparison(op, v)))  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(value=values, comparison=comparisons)
def test_values_holds_agrees_with_the_reference(value: Any, comparison: Comparison) -> None:
    """``segmint.segments.values`` (used by the real-time evaluator) follows the same rules."""
    from segmint.segments.values import holds

    assert holds(value, comparison) == satisfies(value, comparison)


# ---- batch on DuckDB -----------------------------------------------------------------


def test_batch_on_duckdb_agrees_with_the_reference() -> None:
    from segmint.segments.batch import evaluate_duckdb

    def engine(case: Case, store: Store, rows: list[dict[str, Any]]) -> dict[datetime, Memberships]:
        loaded = case.loaded
        return {at: evaluate_duckdb(store.connection, loaded, case.identity, at) for at in case.instants}

    check("duckdb", engine, EXAMPLES)


# ---- batch on Spark ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_spark(spark: Any) -> Iterator[Any]:
    """The shared session, tuned for a few rows while this module runs."""
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


def test_batch_on_spark_agrees_with_the_reference(small_spark: Any) -> None:
    spark = small_spark
    from segmint.segments.batch import evaluate_spark, export_inputs

    def engine(case: Case, store: Store, rows: list[dict[str, Any]]) -> dict[datetime, Memberships]:
        loaded, answers = case.loaded, {}
        with tempfile.TemporaryDirectory() as scratch:
            for i, at in enumerate(case.instants):
                inputs = export_inputs(spark, store.connection, case.identity, at, Path(scratch) / str(i))
                answers[at] = evaluate_spark(spark, inputs, loaded, at)
        return answers

    check("spark", engine, SPARK_EXAMPLES, few_instants)


# ---- real time ----------------------------------------------------------------------------


@dataclass
class Run:
    """What the real-time evaluator said at each instant, and every change it emitted."""

    memberships: dict[datetime, Memberships]
    replayed: dict[datetime, Memberships]  # the changes emitted so far, applied in order
    redundant: list[Change]  # entries of members and exits of non-members


def run_realtime(case: Case, rows: list[dict[str, Any]], upfront: bool = False) -> Run:
    """Feed rows in arrival order, each once its event time <= the instant being checked.

    The clock follows the latest event time fed (as ``segmint replay``
    does), then moves to the instant; late rows (older than the clock) are
    fed as they arrive. ``upfront``: feed every row at once before the
    first instant instead; the evaluator holds those from its future.
    """
    from segmint.segments.realtime import RealtimeEvaluator

    loaded = case.loaded
    evaluator = RealtimeEvaluator(loaded, case.identity)
    current: dict[str, set[str]] = {name: set() for name in loaded.definitions}
    run = Run({}, {}, [])

    def take(changes: list[Change]) -> None:
        for change in changes:
            members = current.setdefault(change.segment, set())
            if (change.profile_id in members) == change.entered:
                run.redundant.append(change)
            (members.add if change.entered else members.discard)(change.profile_id)

    pending = list(rows)
    clock: datetime | None = None
    if upfront:
        take(evaluator.feed(pending))
        pending = []
    for at in case.instants:
        due = [r for r in pending if r["event_time"] <= at]
        pending = [r for r in pending if r["event_time"] > at]
        for row in due:
            take(evaluator.feed([row]))
            if clock is None or row["event_time"] > clock:
                clock = row["event_time"]
                take(evaluator.advance(clock))
        clock = at
        take(evaluator.advance(at))
        run.memberships[at] = evaluator.memberships()
        run.replayed[at] = {name: sorted(ids) for name, ids in current.items()}
    return run


@pytest.mark.parametrize("upfront", [False, True], ids=["fed-when-due", "fed-upfront"])
def test_realtime_agrees_with_the_reference(upfront: bool) -> None:
    from segmint.segments.realtime import RealtimeEvaluator  # noqa: F401  (fails here if absent)

    def engine(case: Case, store: Store, rows: list[dict[str, Any]]) -> dict[datetime, Memberships]:
        return run_realtime(case, rows, upfront).memberships

    check("realtime", engine, EXAMPLES // 2 if upfront else EXAMPLES)


def test_realtime_changes_replay_into_its_memberships() -> None:
    from segmint.segments.realtime import RealtimeEvaluator  # noqa: F401

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=cases)
    def replayed(case: Case) -> None:
        note(case.describe())
        with stored(case) as (_, rows):
            run = run_realtime(case, rows)
        for at in case.instants:
            assert run.replayed[at] == run.memberships[at], disagreement(
                case, "realtime memberships() vs its replayed changes", at, run.replayed[at], run.memberships[at]
            )
        assert not run.redundant, f"changes that change nothing: {run.redundant}\n{case.describe()}"

    replayed()


@settings(max_examples=20, deadline=None)
@given(case=cases)
def test_the_harness_runs_the_reference(case: Case) -> None:
    """Cases parse, ingest without failures and evaluate, whatever the engines do."""
    with stored(case) as (_, rows):
        assert len(rows) == len(case.stream.messages)
        assert [r["message_id"] for r in rows] == [m["messageId"] for m in case.stream.messages]
        for at in case.instants:
            assert list(reference(rows, case.loaded, case.identity, at)) == list(case.loaded.definitions)
