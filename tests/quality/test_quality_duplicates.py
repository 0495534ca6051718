"""Duplicate customers: planted typos are found, blocking loses nothing brute force finds, merges obey identity rules."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path

import orjson
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from segmint.config.model import IdentityConfig
from segmint.identity.profiles import rebuild
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.quality.duplicates import (
    apply_merges, blocking_keys, find_duplicates, is_candidate, match_records, similarity,
)  # fmt: skip
from segmint.store.store import Store

AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)

PEOPLE = [
    ("u1", None, {"email": "jane.doe@gmail.com", "first_name": "Jane", "last_name": "Doe", "phone": "+1 (555) 010-2233"}),
    ("u2", None, {"email": "jane.doe@gmial.com", "name": "Doe Jane"}),  # a typo, names swapped: review
    ("u3", None, {"email": "john.smith@yahoo.com", "name": "John Smith"}),
    ("u4", None, {"email": "jsmith77@outlook.com", "name": "John Smith"}),  # same name only: not a candidate
    (None, "a1", {"email": "jane.doe@gmail.co"}),  # a newsletter sign-up with a typo: merges into u1
    (None, "a2", {"email": "zed@example.org"}),
]


def seed(store: Store) -> None:
    messages = []
    for i, (user, anon, traits) in enumerate(PEOPLE):
        ids = {"userId": user} if user else {"anonymousId": anon}
        messages.append({"type": "identify", **ids, "traits": traits, "messageId": f"m{i}", "timestamp": "2026-10-01T00:00:00Z"})
    Ingestor(store).ingest(stage([orjson.dumps(m).decode() for m in messages], Arrival("web", AS_OF, "t")))
    rebuild(store.connection, IdentityConfig())


def test_planted_duplicates_are_found_with_the_right_action(store):
    seed(store)
    pairs = find_duplicates(store)
    found = {(r.profile_a, r.profile_b): r.action for r in pairs.itertuples()}
    assert found[("u1", "a1")] == "merge"
    assert found.get(("u1", "u2"), found.get(("u2", "u1"))) == "review"
    assert ("u3", "u4") not in found and ("u4", "u3") not in found
    assert all("a2" not in pair for pair in found)
    # The one anonymous profile that also resembles u2 may join only one customer.
    assert sum(1 for (a, b), action in found.items() if b == "a1" and action == "merge") == 1


def test_apply_merges_what_the_rules_allow_and_never_two_customers(store):
    seed(store)
    pairs = find_duplicates(store)
    first = apply_merges(store, IdentityConfig(), pairs, AS_OF)
    again = apply_merges(store, IdentityConfig(), pairs, AS_OF)
    assert first["accepted"] == 1 and again["duplicates"] == 1
    profile_of = {r["value"]: r["profile_id"] for r in store.query("SELECT value, profile_id FROM identities").to_pylist()}
    assert profile_of["a1"] == "u1"
    assert len({profile_of["u1"], profile_of["u2"], profile_of["u3"], profile_of["u4"]}) == 4
    assert store.query("SELECT count(*) AS n FROM identity_conflicts").to_pylist()[0]["n"] == 0
    remaining = find_duplicates(store)
    assert (remaining["action"] == "merge").sum() == 0


FIRST = ["anna", "ben", "chloe", "david", "emma", "felix"]
LAST = ["berg", "cole", "diaz", "evans", "frost"]


def typo(text: str, position: int, letter: str) -> str:
    position %= len(text)
    return text[:position] + letter + text[position + 1 :]


@st.composite
def record_sets(draw: st.DrawFn) -> tuple[pd.DataFrame, tuple[int, int]]:
    rows = []
    for i in range(draw(st.integers(2, 12))):
        first, last = draw(st.sampled_from(FIRST)), draw(st.sampled_from(LAST))
        rows.append({"profile_id": f"p{i}", "user_id": f"p{i}", "name": f"{first} {last}",
                     "email": f"{first}.{last}{draw(st.integers(1, 9))}@mail.com",
                     "phone": draw(st.sampled_from([None, f"55501{i:05d}"]))})
    original = draw(st.integers(0, len(rows) - 1))
    twin = dict(rows[original], profile_id="twin", user_id="twin")
    field = draw(st.sampled_from(["email", "name"]))
    twin[field] = typo(twin[field], draw(st.integers(0, 40)), draw(st.sampled_from("aeiouxz")))
    if draw(st.booleans()):
        twin["name"] = " ".join(reversed(twin["name"].split()))
    rows.append(twin)
    return pd.DataFrame(rows), (original, len(rows) - 1)


@settings(max_examples=60, deadline=None)
@given(data=record_sets())
def test_blocking_loses_no_pair_that_brute_force_finds_after_one_typo(data):
    records, planted = data
    blocked = {(r.profile_a, r.profile_b) for r in match_records(records).itertuples()}
    rows = [{k: (v if isinstance(v, str) else None) for k, v in r.items()} for r in records.to_dict(orient="records")]
    brute = set()
    for a, b in combinations(rows, 2):
        score, parts = similarity(a, b)
        if is_candidate(score, parts, 0.85):
            brute.add((a["profile_id"], b["profile_id"]))
    assert {frozenset(p) for p in blocked} <= {frozenset(p) for p in brute}
    a, b = rows[planted[0]], rows[planted[1]]
    if frozenset((a["profile_id"], b["profile_id"])) in {frozenset(p) for p in brute}:
        assert frozenset((a["profile_id"], b["profile_id"])) in {frozenset(p) for p in blocked}
        assert blocking_keys(a["email"], a["name"], a["phone"]) & blocking_keys(b["email"], b["name"], b["phone"])


def test_cli_lists_pairs_writes_the_review_file_and_applies(tmp_path: Path):
    from segmint.cli import commands
    import typer

    with Store(tmp_path / "s.duckdb") as store:
        seed(store)
    app = typer.Typer()
    commands.register(app)
    review = tmp_path / "review.csv"
    base = ["quality", "duplicates", "--db", str(tmp_path / "s.duckdb"), "--format", "json", "--as-of", AS_OF.isoformat()]
    shown = CliRunner().invoke(app, [*base, "--out", str(review)])
    assert shown.exit_code == 0, shown.output
    listed = json.loads(shown.output)
    assert listed["merge"] == 1 and listed["review"] >= 1 and listed["applied"] is None
    assert len(pd.read_csv(review)) == listed["candidates"]
    applied = CliRunner().invoke(app, [*base, "--apply"])
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.output)["applied"]["accepted"] == 1
    report = CliRunner().invoke(app, ["quality", "--db", str(tmp_path / "s.duckdb"), "--format", "json"])
    assert report.exit_code == 0, report.output
    body = json.loads(report.output)
    assert {i["name"] for i in body["items"] if i["kind"] == "trait"} >= {"email", "name", "phone"}
    assert body["duplicates"]["merge"] == 0


@settings(max_examples=40, deadline=None)
@given(
    local=st.from_regex(r"[a-z]{3,8}\.?[a-z]{2,8}", fullmatch=True),
    n1=st.integers(1, 9999),
    n2=st.integers(1, 9999),
    domain=st.sampled_from(["gmail.com", "proton.me", "outlook.com"]),
)
def test_namesakes_whose_emails_differ_only_in_numbers_are_not_candidates(local, n1, n2, domain):
    from segmint.quality.duplicates import email_similarity, is_candidate, similarity

    assume(n1 != n2)
    a = {"email": f"{local}{n1}@{domain}", "name": "abigail miller", "phone": None}
    b = {"email": f"{local}{n2}@{domain}", "name": "abigail miller", "phone": None}
    score, parts = similarity(a, b)
    assert parts["email"] == 0.0 and not is_candidate(score, parts, 0.85)
    # ... while a typo in the letters of the same address still matches closely.
    typo = f"{local[:-1]}{'x' if local[-1] != 'x' else 'y'}{n1}@{domain}"
    assert email_similarity(a["email"], typo) >= 0.8
