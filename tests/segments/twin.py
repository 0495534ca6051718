"""One real-time replay, observed closely: run by the compiled core here, by its Python source in a worker.

``test_compiled.py`` runs :func:`observe` in the test process (the compiled
modules, where they are built) and in a worker process started with
``SEGMINT_PURE_PYTHON=1`` (``python twin.py``: the same modules from their
``.py`` source), and compares everything observed. The worker reads pickled
requests from stdin (``("observe", *case)`` or ``("restore", snapshot,
segments, identity)``) and writes pickled answers to stdout.
"""

from __future__ import annotations

import pickle
import sys
from datetime import datetime
from typing import Any

from segmint.config.model import IdentityConfig
from segmint.segments.parse import load_segments


def observe(segments: dict[str, Any], identity: IdentityConfig, rows: list[dict[str, Any]],
            instants: list[datetime]) -> tuple[list[Any], bytes]:
    """Every change, in order, and at each instant the memberships, computed traits, next wake-up and explanations;
    and the final snapshot.

    Rows are fed one at a time once visible, the clock following the latest
    event time (as ``segmint replay`` does); after each instant the evaluator
    is replaced by one restored from its snapshot, as a restart would.
    """
    from segmint.segments.realtime import RealtimeEvaluator

    loaded = load_segments(segments)
    evaluator = RealtimeEvaluator(loaded, identity)
    seen: list[Any] = []
    pending = list(rows)
    clock: datetime | None = None
    for at in instants:
        due = [r for r in pending if r["event_time"] <= at]
        pending = [r for r in pending if r["event_time"] > at]
        for row in due:
            seen.append(evaluator.feed([row]))
            if clock is None or row["event_time"] > clock:
                clock = row["event_time"]
                seen.append(evaluator.advance(clock))
        clock = at
        seen.append(evaluator.advance(at))
        seen.append(evaluator.memberships())
        seen.append(evaluator.computed_traits())
        seen.append(evaluator.next_instant())
        for profile_id in evaluator.profile_ids():
            seen.append([evaluator.explain(profile_id, name) for name in loaded.definitions])
        evaluator = RealtimeEvaluator.restore(evaluator.snapshot(), loaded, identity)
    seen.append(evaluator.feed(pending))  # the future: held, then released
    seen.append(evaluator.advance(max((r["event_time"] for r in pending), default=instants[-1])))
    seen.append(evaluator.memberships())
    return seen, evaluator.snapshot()


def restored(snapshot: bytes, segments: dict[str, Any], identity: IdentityConfig) -> Any:
    """The memberships a snapshot restores to, or "SnapshotError" when this build refuses it."""
    from segmint.segments.realtime import RealtimeEvaluator, SnapshotError

    try:
        return RealtimeEvaluator.restore(snapshot, load_segments(segments), identity).memberships()
    except SnapshotError:
        return "SnapshotError"


def main() -> None:
    from segmint.compiled import status

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    pickle.dump(status(), stdout)
    stdout.flush()
    while True:
        try:
            request, *case = pickle.load(stdin)
        except EOFError:
            return
        try:
            result: Any = ("ok", observe(*case) if request == "observe" else restored(*case))
        except Exception as error:  # noqa: BLE001 - reported to the test, which fails with it
            result = ("error", repr(error))
        pickle.dump(result, stdout)
        stdout.flush()


if __name__ == "__main__":
    main()
