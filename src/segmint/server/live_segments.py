"""Live segment memberships inside the server.

The real-time evaluator is fed every committed batch (before the batch is
acknowledged, so a 200 means the memberships already reflect it) and moved
by the wall clock, so time alone makes profiles enter and leave. Every
entry and exit is recorded in ``segment_history``. On start the state is
restored from the latest snapshot whose definitions match (then the events
since are fed), or rebuilt by feeding every stored event; either way the
history is then reconciled with the memberships, so a crash between a
commit and its history record leaves no lasting gap.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import threading
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from segmint.clock import Clock
from segmint.config.model import Config
from segmint.errors import NotFoundError
from segmint.segments.changes import Change
from segmint.segments.parse import LoadedSegments, load_segments
from segmint.segments.realtime.collector import freeze_survivors
from segmint.store.store import Store

log = logging.getLogger("segmint.segments")
FEED_CHUNK = 50_000


def fingerprint(config: Config) -> str:
    """What a snapshot depends on: the definitions and the identity rules."""
    body = orjson.dumps({"segments": config.segments, "identity": config.identity.model_dump()},
                        option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(body).hexdigest()


class LiveSegments:
    def __init__(self, store: Store, config: Config, clock: Clock) -> None:
        from segmint.segments.realtime import RealtimeEvaluator
        from segmint.segments.realtime.arenas import use_huge_pages

        use_huge_pages()  # before the state is made or restored (segments/realtime/arenas.py)
        self._store = store
        self._con = store.cursor()
        self._clock = clock
        self.loaded: LoadedSegments = load_segments(config.segments, config.traits)
        self._fingerprint = fingerprint(config)
        # Two locks: the evaluator's state (held by reads, briefly) and this process's store
        # cursor (held while writing history, status and snapshots). A read never waits for a
        # write to the store: it did, and a commit's history insert kept reads waiting (see _record).
        self._lock = threading.RLock()
        self._store_lock = threading.Lock()
        self.last_error: dict[str, str] = {e.segment: str(e) for e in self.loaded.errors}
        self.evaluated_at: datetime | None = None
        restored = self._restore(RealtimeEvaluator, config)
        if restored is None:
            # Starting at now lets the rebuild feed history without emitting its past changes.
            self.evaluator = RealtimeEvaluator(self.loaded, config.identity, start=clock.now())
            self._feed_from(0)
        else:
            self.evaluator, last_seq = restored
            self._feed_from(last_seq)
        with self._lock:
            self.evaluator.advance(clock.now())
            self._reconcile()
            self.evaluated_at = clock.now()
        freeze_survivors()  # the state lives as long as the server: off the garbage collector's walks

    # ---- lifecycle --------------------------------------------------------

    def _restore(self, evaluator_class: Any, config: Config) -> tuple[Any, int] | None:
        rows = self._con.execute(
            "SELECT last_seq, state FROM realtime_snapshots WHERE definitions = ? ORDER BY taken_at DESC LIMIT 1",
            [self._fingerprint],
        ).fetchall()
        if not rows:
            return None
        try:
            return evaluator_class.restore(bytes(rows[0][1]), self.loaded, config.identity), int(rows[0][0])
        except Exception as error:  # a snapshot we cannot read is rebuilt, not trusted
            log.warning("snapshot not usable (%s); rebuilding from the store", error)
            return None

    def _feed_from(self, after_seq: int) -> None:
        reader = self._con.sql(
            f"SELECT * FROM events WHERE seq > {int(after_seq)} ORDER BY seq"
        ).to_arrow_reader(FEED_CHUNK)
        for batch in reader:
            self.evaluator.feed(_rows(batch))
        self._last_seq = self._max_seq()

    def _max_seq(self) -> int:
        return int(self._con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchall()[0][0])

    def _reconcile(self) -> None:
        """Record whatever the history is missing, as changes at now."""
        known = self._con.execute(
            """SELECT segment, profile_id FROM (
                   SELECT segment, profile_id, arg_max(entered, changed_at) AS inside
                   FROM segment_history GROUP BY segment, profile_id) WHERE inside"""
        ).fetchall()
        recorded = {(s, p) for s, p in known}
        current = {(s, p) for s, members in self.evaluator.memberships().items() for p in members}
        now = self._clock.now()
        changes = [Change(now, s, p, True) for s, p in sorted(current - recorded)]
        changes += [Change(now, s, p, False) for s, p in sorted(recorded - current)]
        self._record(changes)

    def write_status(self, failure: str | None = None) -> None:
        """Record each segment's status, size and evaluation time for `segments list`."""
        rows = []
        for entry in self.sizes():
            status = "error" if failure or entry["status"] == "error" else "ok"
            error = failure or entry.get("last_error")
            rows.append([entry["name"], status, error, entry.get("evaluated_at"),
                         self._clock.now() if status == "error" else None, entry["size"], None])
        with self._store_lock:
            self._con.execute("BEGIN TRANSACTION")
            self._con.execute("DELETE FROM segment_status")
            if rows:
                self._con.executemany("INSERT INTO segment_status VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self._con.execute("COMMIT")

    def snapshot(self) -> None:
        with self._lock:
            state, last_seq = self.evaluator.snapshot(), self._last_seq
        with self._store_lock:
            self._con.execute("BEGIN TRANSACTION")
            self._con.execute("DELETE FROM realtime_snapshots")
            self._con.execute(
                "INSERT INTO realtime_snapshots VALUES (?, ?, ?, ?)",
                [self._clock.now(), last_seq, self._fingerprint, state],
            )
            self._con.execute("COMMIT")
        freeze_survivors()  # and what grew since, every snapshot (segments/realtime/collector.py)

    # ---- driving ----------------------------------------------------------

    def on_commit(self, rows: list[dict[str, Any]], last_seq: int | None) -> None:
        if not self.loaded.definitions:  # nothing to keep live
            self._last_seq = last_seq or self._last_seq
            return
        with self._lock:
            changes = self.evaluator.feed(rows)
            changes += self.evaluator.advance(self._clock.now())
            if last_seq is not None:
                self._last_seq = last_seq
            self.evaluated_at = self._clock.now()
        self._record(changes)  # the memberships are visible already; the history follows

    def tick(self) -> None:
        with self._lock:
            changes = self.evaluator.advance(self._clock.now())
            self.evaluated_at = self._clock.now()
        self._record(changes)

    def _record(self, changes: list[Change]) -> None:
        """Append entries and exits to ``segment_history``, outside the evaluator's lock.

        One Arrow table per call: ``executemany`` binds row by row, 57 ms for
        300 changes (2 ms this way), and it ran under the lock reads take,
        which made the live read API's p99 tens of milliseconds under load.
        Order between calls does not matter: readers order by ``changed_at``.
        """
        if not changes:
            return
        now = self._clock.now()
        history = pa.table({
            "segment": pa.array([c.segment for c in changes], pa.string()),
            "profile_id": pa.array([c.profile_id for c in changes], pa.string()),
            "entered": pa.array([c.entered for c in changes], pa.bool_()),
            "changed_at": pa.array([c.at for c in changes], pa.timestamp("us", tz="UTC")),
            "recorded_at": pa.array([now] * len(changes), pa.timestamp("us", tz="UTC")),
        })
        with self._store_lock:
            self._con.execute("INSERT INTO segment_history SELECT * FROM history")

    # ---- reading ----------------------------------------------------------

    def segments_of(self, profile_id: str) -> list[str]:
        with self._lock:
            return list(self.evaluator.segments_of(profile_id))

    def sizes(self) -> list[dict[str, Any]]:
        with self._lock:
            memberships = self.evaluator.memberships()
        out = []
        for name, members in memberships.items():
            definition = self.loaded.definitions[name]
            out.append({"name": name, "size": len(members), "status": "ok", "description": definition.description,
                        "evaluated_at": self.evaluated_at})
        for error in self.loaded.errors:
            out.append({"name": error.segment, "size": None, "status": "error", "last_error": str(error),
                        "evaluated_at": None})
        return out

    def members(self, name: str, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
        if name not in self.loaded.definitions:
            if name in self.last_error:
                raise NotFoundError(f"segment {name!r} cannot be evaluated: {self.last_error[name]}")
            raise NotFoundError(f"no segment named {name!r}")
        with self._lock:
            members = self.evaluator.members(name)
        start = bisect.bisect_right(members, cursor) if cursor else 0
        page = members[start : start + limit]
        more = start + limit < len(members)
        return page, (page[-1] if more and page else None)


# The columns the real-time evaluator and live profiles read.
ROW_COLUMNS = ["seq", "type", "event", "user_id", "anonymous_id", "previous_id", "event_time",
               "properties", "traits", "context"]


def _rows(table: Any) -> list[dict[str, Any]]:
    return table.select(ROW_COLUMNS).to_pylist()
