"""Helpers for the real-time evaluator's tests, and a check that they build real rows.

``Messages`` writes rows of the store's ``events`` table by hand (seq in the
order written, times in minutes after ``T0``); ``members_at`` runs a fresh
evaluator over them. The test below holds the hand-built rows to what the
ingestion path stores for the same messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import yaml

from segmint.config.model import IdentityConfig
from segmint.segments.changes import Change, Memberships
from segmint.segments.parse import LoadedSegments, load_segments
from segmint.segments.realtime import RealtimeEvaluator

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Messages:
    """Rows of the ``events`` table, written by hand."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def _add(self, kind: str, minute: float, user: str | None, anon: str | None, **fields: Any) -> dict[str, Any]:
        row = {
            "seq": len(self.rows) + 1, "type": kind, "event": None, "user_id": user, "anonymous_id": anon,
            "previous_id": None, "event_time": at(minute), "properties": None, "traits": None, "context": None,
        } | fields
        self.rows.append(row)
        return row

    def track(self, minute: float, event: str, user: str | None = None, anon: str | None = None,
              **properties: Any) -> dict[str, Any]:
        return self._add("track", minute, user, anon, event=event, properties=properties)

    def identify(self, minute: float, user: str | None = None, anon: str | None = None,
                 **traits: Any) -> dict[str, Any]:
        return self._add("identify", minute, user, anon, traits=traits)

    def alias(self, minute: float, user: str, previous: str) -> dict[str, Any]:
        return self._add("alias", minute, user, None, previous_id=previous)

    def page(self, minute: float, user: str | None = None, anon: str | None = None) -> dict[str, Any]:
        return self._add("page", minute, user, anon)


def segments(definitions: str | Mapping[str, Any]) -> LoadedSegments:
    raw = yaml.safe_load(definitions) if isinstance(definitions, str) else definitions
    loaded = load_segments(raw)
    assert not loaded.errors, loaded.errors
    return loaded


def evaluator(definitions: str | Mapping[str, Any], start: datetime | None = None,
              identity: IdentityConfig | None = None) -> RealtimeEvaluator:
    return RealtimeEvaluator(segments(definitions), identity or IdentityConfig(), start)


def members_at(definitions: str | Mapping[str, Any], rows: Iterable[dict[str, Any]], minute: float,
               identity: IdentityConfig | None = None) -> Memberships:
    """Memberships at ``at(minute)`` of a fresh evaluator fed ``rows`` (future ones held)."""
    ev = evaluator(definitions, identity=identity)
    ev.feed([r for r in rows if r["event_time"] <= at(minute)])
    ev.advance(at(minute))
    return ev.memberships()


def fold(changes: Iterable[Change], into: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """Apply changes, in order, to a membership map; an entry of a member or exit of a
    non-member is an error (changes must change something)."""
    members = into if into is not None else {}
    for change in changes:
        current = members.setdefault(change.segment, set())
        assert (change.profile_id in current) != change.entered, f"redundant change {change}"
        (current.add if change.entered else current.discard)(change.profile_id)
    return members


def as_sorted(members: dict[str, set[str]], names: Iterable[str]) -> Memberships:
    return {name: sorted(members.get(name, ())) for name in names}


# ---- the helpers build the rows the store holds --------------------------------------


def test_hand_built_rows_match_the_stored_rows() -> None:
    from segmint.ingest.ingestor import Ingestor
    from segmint.ingest.staging import Arrival, stage
    from segmint.store.store import Store

    hand = Messages()
    hand.track(0, "Viewed", anon="a1", category="outdoor", price=12.5, tags=["x"])
    hand.identify(1, user="u1", anon="a1", age=30, plan=None)
    hand.alias(2, "u1", "a2")
    hand.page(3, user="u1")
    messages = []
    for row in hand.rows:
        message = {"type": row["type"], "messageId": f"m{row['seq']}",
                   "timestamp": row["event_time"].isoformat().replace("+00:00", "Z")}
        for key, field in (("userId", "user_id"), ("anonymousId", "anonymous_id"), ("previousId", "previous_id"),
                           ("event", "event"), ("properties", "properties"), ("traits", "traits")):
            if row[field] is not None:
                message[key] = row[field]
        if row["type"] == "page":
            message["name"] = "Home"
        messages.append(orjson.dumps(message).decode())
    store = Store(":memory:")
    try:
        result = Ingestor(store).ingest(stage(messages, Arrival("web", at(60), "test")))
        assert not result.failures, result.failures
        stored = store.query("SELECT * FROM events ORDER BY seq").to_pylist()
    finally:
        store.close()
    for mine, theirs in zip(hand.rows, stored, strict=True):
        for column in ("type", "event", "user_id", "anonymous_id", "previous_id", "event_time"):
            assert mine[column] == theirs[column], column
        for column in ("properties", "traits"):
            parsed = orjson.loads(theirs[column]) if theirs[column] else None
            assert (mine[column] or None) == (parsed or None), column
    definitions = {"viewed": {"performed": "Viewed", "where": {"category": "outdoor"}},
                   "thirty": {"trait": "age", "eq": 30}}
    assert members_at(definitions, stored, 10) == members_at(definitions, hand.rows, 10) == {
        "viewed": ["u1"], "thirty": ["u1"]}
