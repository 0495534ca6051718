"""The evaluator's interface: snapshots, explanations, reads and errors."""

from __future__ import annotations

import pickle

import pytest
from test_realtime_kit import T0, Messages, at, evaluator, segments

from segmint.config.model import IdentityConfig
from segmint.errors import NotFoundError, SegmintError
from segmint.segments.changes import Change
from segmint.segments.parse import load_segments
from segmint.segments.realtime import RealtimeEvaluator, SnapshotError, fingerprint

CARTS = """
abandoned:
  performed: Added
  within: 2h
  not_followed_by: {performed: Bought, within: 30m, same: [cart]}
recent: {performed: Viewed, within: 10m}
"""


def _pending() -> tuple[RealtimeEvaluator, Messages]:
    m = Messages()
    m.track(0, "Added", user="u1", cart="c1")
    m.track(5, "Viewed", user="u1")
    m.track(50, "Viewed", user="u2")           # not yet visible at minute 20
    ev = evaluator(CARTS, start=T0)
    ev.feed(m.rows)
    ev.advance(at(20))
    return ev, m


def test_a_restored_evaluator_emits_the_pending_changes() -> None:
    original, _ = _pending()
    blob = original.snapshot()
    restored = RealtimeEvaluator.restore(blob, segments(CARTS), IdentityConfig())
    assert restored.memberships() == original.memberships() == {"abandoned": [], "recent": []}
    assert restored.clock == original.clock == at(20)
    expected = [
        Change(at(30), "abandoned", "u1", True),   # the deadline survived the restart
        Change(at(50), "recent", "u2", True),      # so did the held message
        Change(at(60), "recent", "u2", False),
        Change(at(120), "abandoned", "u1", False),
    ]
    assert original.advance(at(200)) == expected
    assert restored.advance(at(200)) == expected


def test_a_snapshot_survives_pickling_round_trips_and_more_messages() -> None:
    original, m = _pending()
    restored = RealtimeEvaluator.restore(original.snapshot(), segments(CARTS), IdentityConfig())
    late = m.track(10, "Bought", user="u1", cart="c1")   # checked out after all
    assert original.feed([late]) == restored.feed([late]) == []
    assert original.advance(at(200)) == restored.advance(at(200))


def test_a_snapshot_of_other_definitions_is_refused() -> None:
    blob, _ = _pending()[0].snapshot(), None
    other = segments(CARTS.replace("30m", "40m"))
    with pytest.raises(SnapshotError, match="definitions or identity rules changed"):
        RealtimeEvaluator.restore(blob, other, IdentityConfig())
    with pytest.raises(SnapshotError, match="changed"):
        RealtimeEvaluator.restore(blob, segments(CARTS), IdentityConfig(limits={"anonymous_id": 2}))
    with pytest.raises(SnapshotError, match="not a real-time snapshot"):
        RealtimeEvaluator.restore(b"not a pickle", segments(CARTS), IdentityConfig())
    with pytest.raises(SnapshotError, match="format"):
        RealtimeEvaluator.restore(pickle.dumps({"format": 0}), segments(CARTS), IdentityConfig())
    assert issubclass(SnapshotError, SegmintError)


def test_the_fingerprint_names_the_definitions_not_their_descriptions() -> None:
    plain = segments({"s": {"performed": "Viewed"}})
    described = segments({"s": {"performed": "Viewed", "description": "anyone who looked", "tags": ["x"]}})
    changed = segments({"s": {"performed": "Viewed", "within": "1d"}})
    identity = IdentityConfig()
    assert fingerprint(plain, identity) == fingerprint(described, identity) != fingerprint(changed, identity)
    assert RealtimeEvaluator(plain, identity).fingerprint == fingerprint(plain, identity)


def test_explain_names_the_conditions_and_the_events() -> None:
    m = Messages()
    m.identify(0, user="u1", anon="a1", plan="pro")
    m.track(1, "Added", anon="a1", cart="c1")
    m.track(2, "Viewed", user="u1")
    definitions = """
    lost_pro:
      all:
        - trait: plan
          eq: pro
        - performed: Added
          not_followed_by: {performed: Bought, within: 30m, same: [cart]}
        - not: {performed: Viewed, within: 10m}
        - any: [{in_segment: other}]
    other: {performed: Viewed}
    """
    ev = evaluator(definitions)
    ev.feed(m.rows)
    ev.advance(at(31))
    found = ev.explain("u1", "lost_pro")
    assert found["member"] is True and found["profile_id"] == "u1" and found["at"] == at(31).isoformat()
    assert found["identifiers"] == ["anonymous_id:a1", "user_id:u1"]
    trait, sequence, recent, refs = found["condition"]["conditions"]
    assert found["condition"]["kind"] == "all" and found["condition"]["holds"] is True
    assert trait == {"kind": "trait", "condition": "trait plan eq pro", "holds": True, "value": "pro",
                     "events": [{"seq": 1, "event_time": at(0).isoformat(), "event": "identify"}]}
    assert sequence["holds"] is True
    assert sequence["condition"] == ("performed Added, not followed by Bought within 30m with the same cart")
    assert sequence["events"] == [{"seq": 2, "event_time": at(1).isoformat(), "event": "Added"}]
    assert recent["kind"] == "not" and recent["holds"] is True
    assert recent["conditions"][0]["count"] == 0                # the view at 2 left the window at 12
    assert refs["conditions"][0] == {"kind": "in_segment", "condition": "in segment other", "holds": True}
    before = evaluator(definitions)
    before.feed(m.rows)
    before.advance(at(20))
    pending = before.explain("u1", "lost_pro")["condition"]["conditions"][1]
    assert pending["holds"] is False
    assert pending["pending"] == [{"seq": 2, "event_time": at(1).isoformat(), "event": "Added",
                                   "deadline": at(31).isoformat()}]


def test_reads() -> None:
    m = Messages()
    m.track(0, "Viewed", user="u2")
    m.track(0, "Viewed", user="u1")
    m.page(0, anon="a9")
    ev = evaluator("""
    viewed: {performed: Viewed}
    nobody: {any: []}
    everyone: {all: []}
    """, start=at(1))
    ev.feed(m.rows)
    assert ev.memberships() == {"everyone": ["a9", "u1", "u2"], "nobody": [], "viewed": ["u1", "u2"]}
    assert list(ev.memberships()) == ["everyone", "nobody", "viewed"]
    assert ev.members("viewed") == ["u1", "u2"]
    assert ev.segments_of("u1") == ["everyone", "viewed"]
    assert ev.segments_of("nobody-like-this") == []
    assert ev.profile_ids() == ["a9", "u1", "u2"]
    with pytest.raises(NotFoundError, match="no usable segment named 'missing'"):
        ev.members("missing")
    with pytest.raises(NotFoundError, match="no profile 'zz'"):
        ev.explain("zz", "viewed")


def test_unusable_segments_are_left_out() -> None:
    loaded = load_segments({"good": {"performed": "Viewed"}, "bad": {"performed": "Viewed", "within": "forever"},
                            "needs_bad": {"in_segment": "bad"}})
    assert sorted(e.segment for e in loaded.errors) == ["bad", "needs_bad"]
    ev = RealtimeEvaluator(loaded, IdentityConfig(), start=at(1))
    ev.feed([Messages().track(0, "Viewed", user="u1")])
    assert ev.memberships() == {"good": ["u1"]}


def test_rows_may_carry_json_text() -> None:
    m = Messages()
    row = m.track(0, "Viewed", user="u1", category="outdoor")
    row["properties"] = '{"category": "outdoor"}'
    ident = m.identify(0, user="u1")
    ident["traits"] = '{"plan": "pro"}'
    ev = evaluator({"s": {"all": [{"performed": "Viewed", "where": {"category": "outdoor"}},
                                  {"trait": "plan", "eq": "pro"}]}}, start=at(1))
    assert ev.feed(m.rows) == [Change(at(1), "s", "u1", True)]
