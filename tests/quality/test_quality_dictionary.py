"""The data dictionary equals a plain-Python reading of the same messages."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.config.model import IdentityConfig
from segmint.identity.profiles import rebuild
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.quality.dictionary import COLUMNS, data_dictionary, quality_score
from segmint.store.store import Store

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
ABSENT = object()

values = {
    "amount": st.sampled_from([1, 2.5, "3", None, ABSENT]),
    "created_at": st.sampled_from(["2026-10-01T10:00:00Z", "2026-10-02", "soon", 7, None, ABSENT]),
    "email": st.sampled_from(["ann@shop.com", "Bob@Mail.org", " ann@shop.com", "ann", None, ABSENT]),
    "tags": st.sampled_from([["a"], {"k": 1}, True, ABSENT]),
}


@st.composite
def tracks(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 12))):
        properties = {k: v for k, s in values.items() if (v := draw(s)) is not ABSENT}
        out.append({"type": "track", "event": draw(st.sampled_from(["Viewed", "Bought"])), "userId": "u1",
                    "messageId": f"m{i}", "properties": properties,
                    "timestamp": (AS_OF - timedelta(days=draw(st.sampled_from([0, 10, 60])))).isoformat()})
    return out


def logical(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def reference(messages: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for event in {m["event"] for m in messages}:
        mine = [m for m in messages if m["event"] == event]
        for key in {k for m in mine for k in m["properties"]}:
            present = [m["properties"][key] for m in mine if m["properties"].get(key) is not None]
            if not any(key in m["properties"] for m in mine):
                continue
            counts: dict[str, int] = {}
            for value in present:
                counts[logical(value)] = counts.get(logical(value), 0) + 1
            types = sorted(counts, key=lambda t: (-counts[t], t))
            strings = [v for v in present if isinstance(v, str)]
            valid = counts.get(types[0], 0) if types else 0
            if types and types[0] == "string" and key == "created_at":
                valid = sum(map(is_time, strings))
            elif types and types[0] == "string" and key == "email":
                valid = sum(1 for s in strings if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s.]+", s))
            last = max(datetime.fromisoformat(m["timestamp"]) for m in mine if key in m["properties"])
            freshness = 0.5 ** ((AS_OF - last) / timedelta(days=30))
            completeness = len(present) / len(mine)
            validity = valid / len(present) if present else None
            rows[event, key] = {
                "types": types, "scope": len(mine), "present": len(present), "completeness": completeness,
                "validity": validity, "freshness": freshness,
                "score": round(100 * (0.4 * completeness + 0.4 * (validity or 0) + 0.2 * freshness), 1),
            }  # fmt: skip
    return rows


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=tracks())
def test_properties_equal_the_reference(tmp_path_factory, messages):
    with Store(tmp_path_factory.mktemp("dq") / "s.duckdb") as store:
        Ingestor(store).ingest(stage([orjson.dumps(m).decode() for m in messages], Arrival("web", AS_OF, "t")))
        rebuild(store.connection, IdentityConfig())
        got = data_dictionary(store, AS_OF)
    assert list(got.columns) == list(COLUMNS)
    props = got[got["kind"] == "property"]
    want = reference(messages)
    assert {(r.event, r.name) for r in props.itertuples()} == set(want)
    for row in props.to_dict(orient="records"):
        expected = want[row["event"], row["name"]]
        for key, value in expected.items():
            if value is None:
                assert row[key] != row[key], (row["event"], row["name"], key)  # missing: NaN in pandas
            elif isinstance(value, float):
                assert row[key] == pytest.approx(value, abs=1e-9), (row["event"], row["name"], key)
            else:
                assert row[key] == value, (row["event"], row["name"], key)
    events = got[got["kind"] == "event"].set_index("name")
    for event in {m["event"] for m in messages}:
        mine = [v for (e, _), v in want.items() if e == event]
        expected = sum(v["completeness"] for v in mine) / len(mine) if mine else 1.0
        assert events.loc[event, "completeness"] == pytest.approx(expected)
        assert events.loc[event, "scope"] == sum(1 for m in messages if m["event"] == event)


def test_sources_count_their_failed_messages_and_traits_count_profiles(store):
    good = [
        {"type": "identify", "userId": "u1", "traits": {"email": "a@b.co", "plan": "pro"}},
        {"type": "identify", "userId": "u1", "traits": {"email": "a@b.co"}},
        {"type": "identify", "userId": "u2", "traits": {"email": "nope"}},
        {"type": "identify", "anonymousId": "x", "traits": {"plan": None}},
        {"type": "track", "userId": "u1", "event": "Viewed"},
    ]
    raws = [orjson.dumps(m | {"messageId": f"m{i}", "timestamp": "2026-10-31T00:00:00Z"}).decode() for i, m in enumerate(good)]
    raws += ["{not json", orjson.dumps({"type": "track", "userId": "u1"}).decode()]
    Ingestor(store).ingest(stage(raws, Arrival("app", AS_OF, "t")))
    rebuild(store.connection, IdentityConfig())
    got = data_dictionary(store, AS_OF).set_index(["kind", "name"])
    source = got.loc[("source", "app")]
    assert source["validity"] == pytest.approx(5 / 7) and "2 messages failed" in source["issues"][0]
    email, plan = got.loc[("trait", "email")], got.loc[("trait", "plan")]
    # Three identified profiles (u1, u2, x): two have an email, one of the three values is not an email.
    assert (email["scope"], email["present"], email["validity"]) == (3, 2, pytest.approx(2 / 3))
    assert plan["present"] == 1 and plan["completeness"] == pytest.approx(1 / 3)


def test_the_score_formula():
    assert quality_score(1.0, 1.0, 1.0) == 100.0
    assert quality_score(0.5, None, 0.5) == 30.0
    assert math.isclose(quality_score(0.25, 0.75, 0.0), 40.0)
