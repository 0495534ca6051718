"""Duplicate customer records, found by fuzzy matching and offered to identity resolution.

A *record* is a profile with at least one of an email, a name (``name``,
or ``first_name`` + ``last_name``) or a phone number among its traits.
Comparing every record with every other does not scale, so records are
compared only within *blocks* that share a key a duplicate would almost
surely share too:

- email: the first four characters of the local part, and the last four
  with the domain (a typo rarely touches both ends);
- name: each name word's first three letters with the other words'
  initials (a typo in one word leaves the other key intact; word order
  does not matter);
- phone: the last seven digits.

Blocks larger than ``max_block`` records (a very common name) are skipped.
Within a block each pair is scored by ``rapidfuzz``: email by edit
similarity, name by token-sorted similarity, phone 1 when the last ten
digits agree (else edit similarity); the score is their weighted mean
(email 0.5, name 0.3, phone 0.2) over the fields both records have. A pair
is a candidate when the score reaches ``threshold`` and the evidence is
more than a name (two fields, or an email or phone).

What identity resolution may do with a candidate follows its rules
(``docs/identity.md``): two ``userId`` s are never merged, so a pair of
customers is only ever offered for **review**; a customer and an
anonymous profile (a newsletter sign-up with a misspelt email, say) can
be **merged** the way the rules allow, by an ``identify`` call carrying
both ids, published from the source ``segmint``. See ``docs/quality.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

import orjson
import pandas as pd
from rapidfuzz import fuzz
from sqlglot import exp

from segmint import __version__
from segmint.store.store import StoreReader

PRODUCER = "duplicates"
WEIGHTS = {"email": 0.5, "name": 0.3, "phone": 0.2}
THRESHOLD = 0.85
MAX_BLOCK = 200
COLUMNS = (
    "profile_a", "profile_b", "user_a", "user_b", "score", "email", "name", "phone",
    "email_a", "email_b", "name_a", "name_b", "phone_a", "phone_b", "action",
)  # fmt: skip


@dataclass(frozen=True)
class MatchFields:
    """Which traits hold a record's email, name and phone (the first one present wins)."""

    email: tuple[str, ...] = ("email",)
    name: tuple[str, ...] = ("name",)
    first_name: tuple[str, ...] = ("first_name", "firstName")
    last_name: tuple[str, ...] = ("last_name", "lastName")
    phone: tuple[str, ...] = ("phone", "phone_number", "phoneNumber")


def _trait(keys: Sequence[str]) -> str:
    paths = [exp.func("json_extract_string", exp.column("traits"), exp.Literal.string(f'$."{k}"')) for k in keys]
    return exp.Coalesce(this=paths[0], expressions=paths[1:]).sql("duckdb")


def customer_records(store: StoreReader, fields: MatchFields = MatchFields()) -> pd.DataFrame:
    """Profiles with an email, name or phone: ``profile_id``, ``user_id`` and the three fields, normalised."""
    sql = f"""
    SELECT profile_id, user_id, lower(trim({_trait(fields.email)})) AS email,
           lower(trim(coalesce({_trait(fields.name)},
                               concat_ws(' ', {_trait(fields.first_name)}, {_trait(fields.last_name)})))) AS name,
           regexp_replace({_trait(fields.phone)}, '[^0-9]', '', 'g') AS phone
    FROM profiles
    """
    frame = store.query(sql).to_pandas()
    for column in ("email", "name", "phone"):
        frame[column] = frame[column].where(frame[column].fillna("").str.len() > 0, None)
    frame["name"] = frame["name"].map(lambda n: re.sub(r"\s+", " ", n) if isinstance(n, str) else None)
    frame["phone"] = frame["phone"].map(lambda p: p[-10:] if isinstance(p, str) else None)
    keep = frame[["email", "name", "phone"]].notna().any(axis=1)
    return frame[keep].sort_values("profile_id").reset_index(drop=True)


def _rows(records: pd.DataFrame) -> list[dict[str, Any]]:
    """The records as dicts, a missing value (NaN in pandas) as None."""
    return [
        {key: (None if not isinstance(value, str) else value) for key, value in row.items()}
        for row in records[["profile_id", "user_id", "email", "name", "phone"]].to_dict(orient="records")
    ]


def blocking_keys(email: str | None, name: str | None, phone: str | None) -> set[str]:
    """The blocks a record belongs to (see the module docstring)."""
    keys = set()
    if email and "@" in email:
        local, _, domain = email.rpartition("@")
        keys.add("e<" + local[:4])
        keys.add("e>" + local[-4:] + "@" + domain)
    if name:
        words = sorted(name.split())
        for i, word in enumerate(words):
            keys.add("n:" + word[:3] + "|" + "".join(w[0] for j, w in enumerate(words) if j != i))
    if phone and len(phone) >= 7:
        keys.add("p:" + phone[-7:])
    return keys


def candidate_pairs(records: pd.DataFrame, max_block: int = MAX_BLOCK) -> set[tuple[int, int]]:
    """Row-index pairs ``(i, j)``, ``i < j``, that share a block of at most ``max_block`` records."""
    blocks: dict[str, list[int]] = {}
    for i, row in enumerate(_rows(records)):
        for key in blocking_keys(row["email"], row["name"], row["phone"]):
            blocks.setdefault(key, []).append(i)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if 1 < len(members) <= max_block:
            pairs.update(combinations(members, 2))
    return pairs


_NUMBERS = re.compile(r"\d+")


def email_similarity(a: str, b: str) -> float:
    """Edit similarity of two emails, except that two that both carry numbers, different ones, score 0.

    Numbers in an address are how people and providers tell accounts apart
    (``amiller289@`` and ``amiller899@`` are two Abigail Millers), while a
    typo changes letters (``amiler289@``). Without this rule every pair of
    namesakes with numbered addresses would look like one person. The price:
    a typo in a number is not found (a review pair lost, never a wrong merge).
    """
    numbers_a, numbers_b = _NUMBERS.findall(a), _NUMBERS.findall(b)
    if numbers_a and numbers_b and numbers_a != numbers_b:
        return 0.0
    return fuzz.ratio(a, b) / 100


def similarity(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """The weighted score of two records and each compared field's similarity (0 to 1)."""
    parts: dict[str, float] = {}
    if a["email"] and b["email"]:
        parts["email"] = email_similarity(a["email"], b["email"])
    if a["name"] and b["name"]:
        parts["name"] = fuzz.token_sort_ratio(a["name"], b["name"]) / 100
    if a["phone"] and b["phone"]:
        parts["phone"] = 1.0 if a["phone"] == b["phone"] else fuzz.ratio(a["phone"], b["phone"]) / 100
    if not parts:
        return 0.0, parts
    weight = sum(WEIGHTS[f] for f in parts)
    return sum(WEIGHTS[f] * s for f, s in parts.items()) / weight, parts


def is_candidate(score: float, parts: dict[str, float], threshold: float) -> bool:
    """At or above the threshold, on more evidence than a name alone."""
    return score >= threshold and (len(parts) >= 2 or "email" in parts or "phone" in parts)


def find_duplicates(
    store: StoreReader,
    *,
    threshold: float = THRESHOLD,
    max_block: int = MAX_BLOCK,
    fields: MatchFields = MatchFields(),
) -> pd.DataFrame:
    """Candidate pairs of duplicate records, best first (see ``COLUMNS``; ``action`` is merge or review)."""
    records = customer_records(store, fields)
    return match_records(records, threshold=threshold, max_block=max_block)


def match_records(records: pd.DataFrame, *, threshold: float = THRESHOLD, max_block: int = MAX_BLOCK) -> pd.DataFrame:
    """``find_duplicates`` over a records table (``profile_id, user_id, email, name, phone``)."""
    rows = _rows(records)
    found = []
    for i, j in sorted(candidate_pairs(records, max_block)):
        a, b = rows[i], rows[j]
        score, parts = similarity(a, b)
        if not is_candidate(score, parts, threshold):
            continue
        if a["user_id"] is None and b["user_id"] is not None:
            a, b = b, a  # the customer first: it is the profile a merge keeps
        found.append(
            {
                "profile_a": a["profile_id"], "profile_b": b["profile_id"],
                "user_a": a["user_id"], "user_b": b["user_id"], "score": round(score, 4),
                "email": parts.get("email"), "name": parts.get("name"), "phone": parts.get("phone"),
                "email_a": a["email"], "email_b": b["email"], "name_a": a["name"], "name_b": b["name"],
                "phone_a": a["phone"], "phone_b": b["phone"],
                "action": "merge" if (a["user_id"] is None) != (b["user_id"] is None) else "review",
            }  # fmt: skip
        )
    found.sort(key=lambda r: (-r["score"], r["profile_a"], r["profile_b"]))
    # An anonymous profile can join one customer only: the best match; any other goes to review.
    merged: set[str] = set()
    for row in found:
        if row["action"] == "merge":
            row["action"] = "review" if row["profile_b"] in merged else "merge"
            merged.add(row["profile_b"])
    return pd.DataFrame(found, columns=list(COLUMNS))


def merge_messages(pairs: pd.DataFrame, at: datetime) -> list[str]:
    """One ``identify`` per ``merge`` pair, carrying the customer's userId and the anonymous profile's id.

    An anonymous profile's id is its earliest anonymousId, so the identity
    graph joins the two profiles exactly as if the customer had logged in
    on that browser. The messageId names both, so applying twice is a no-op.
    """
    stamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    out = []
    for pair in pairs[pairs["action"] == "merge"].itertuples(index=False):
        message = {
            "type": "identify",
            "userId": pair.user_a,
            "anonymousId": pair.profile_b,
            "messageId": f"{PRODUCER}:{pair.user_a}:{pair.profile_b}",
            "timestamp": stamp,
            "context": {"library": {"name": "segmint", "version": __version__}, "producer": PRODUCER,
                        "duplicate_score": pair.score},
        }  # fmt: skip
        out.append(orjson.dumps(message).decode())
    return out


def apply_merges(store: Any, identity: Any, pairs: pd.DataFrame, at: datetime) -> dict[str, int]:
    """Publish the merges of ``pairs`` and refresh the profiles; review pairs are left alone."""
    from segmint.identity.profiles import refresh
    from segmint.traits.publish import send, store_writer

    messages = merge_messages(pairs, at)
    if not messages:
        return {"merges": 0, "accepted": 0, "duplicates": 0, "failed": 0}
    result = send(store_writer(store), messages, producer=PRODUCER)
    refresh(store, identity)
    return {"merges": len(messages), "accepted": result.accepted, "duplicates": result.duplicates, "failed": result.failed}

