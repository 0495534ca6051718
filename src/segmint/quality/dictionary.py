"""The data dictionary: every source, event, property and trait, and how good its data is.

One row per item (``kind``):

- ``source``: a source of messages;
- ``event``: an event name per source (track calls by their name; other
  calls by their type in brackets, ``[page]``, ``[identify]``);
- ``property``: a top-level key of an event's ``properties``, per source;
- ``trait``: a top-level key of the ``traits`` of ``identify`` calls, per
  source (learned traits arrive from the source ``segmint``).

Each row says which JSON types were seen (``types``, most frequent first)
and scores three qualities from 0 to 1 (``docs/quality.md``):

- ``completeness``: a property, the share of the event's messages where it
  has a value (not null); a trait, the share of the source's identified
  profiles that have it; an event or source, the mean of its items'
  (1 without any);
- ``validity``: a property or trait, the share of its values of the
  dominant type, and for time-like keys (``created_at``, ``signupDate``,
  ... or values that mostly are times) only the strings that parse as
  timestamps, for email-like keys only the strings shaped like an email;
  an event, the mean of its properties'; a source, the share of its
  messages that were not rejected (``failed``: still in the failed-messages
  store);
- ``freshness``: ``0.5 ** (days since last seen / half_life_days)``.

``score = 100 * (0.4 completeness + 0.4 validity + 0.2 freshness)``; a
missing validity (no values at all) counts as 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
from sqlglot import exp

from segmint.clock import as_utc
from segmint.identity.profiles import PROFILE_EVENTS
from segmint.segments.batch.dialects import DuckDB
from segmint.store.store import StoreReader

WEIGHTS = {"completeness": 0.4, "validity": 0.4, "freshness": 0.2}
HALF_LIFE_DAYS = 30.0
COLUMNS = (
    "kind", "source", "event", "name", "types", "scope", "present", "completeness", "validity",
    "last_seen", "freshness", "score", "issues",
)  # fmt: skip

# Logical types of DuckDB's json_type names.
_TYPES = {
    "BIGINT": "number", "UBIGINT": "number", "HUGEINT": "number", "DOUBLE": "number",
    "VARCHAR": "string", "BOOLEAN": "boolean", "ARRAY": "array", "OBJECT": "object",
}  # fmt: skip
_TIME_KEY = re.compile(r"(_at|At|_on|[Dd]ate|[Tt]ime|[Tt]imestamp)$")
_EMAIL_KEY = re.compile(r"(?i)e[-_]?mail")
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s.]+"
# Strings that mostly parse as times are times, whatever the key is called.
_TIME_SHARE = 0.8

_MESSAGES = """
SELECT source, type, CASE WHEN type = 'track' THEN event ELSE '[' || type || ']' END AS event,
       event_time, user_id, anonymous_id,
       CASE WHEN type = 'identify' THEN traits WHEN type IN ('track', 'page', 'screen') THEN properties END AS doc
FROM events WHERE event_time <= {as_of}
"""

_VALUES = """
WITH msg AS ({messages}), owned AS ({owner})
SELECT source, event, j.key AS name, json_type(j.value) AS json_type, count(*) AS n,
       count(*) FILTER (WHERE json_type(j.value) = 'VARCHAR'
                          AND try_cast(json_extract_string(j.value, '$') AS TIMESTAMPTZ) IS NOT NULL) AS times,
       count(*) FILTER (WHERE json_type(j.value) = 'VARCHAR'
                          AND regexp_full_match(json_extract_string(j.value, '$'), {email})) AS emails,
       max(event_time) AS last_seen
FROM owned, json_each(owned.doc) AS j
GROUP BY ALL
"""

# A property belongs to a message; a trait to the profile the identify resolves to.
_PROPERTY_OWNER = "SELECT *, NULL AS owner FROM msg WHERE type IN ('track', 'page', 'screen') AND doc IS NOT NULL"
# Profiles by the store's own rule (identity.profiles.PROFILE_EVENTS), so the report never disagrees with them.
_TRAIT_OWNER = f"""
SELECT * EXCLUDE (profile_id), profile_id AS owner
FROM ({PROFILE_EVENTS.format(events="msg", identities="identities")})
WHERE type = 'identify' AND doc IS NOT NULL
"""

_OWNERS = """
WITH msg AS ({messages}), owned AS ({owner})
SELECT source, j.key AS name, count(DISTINCT owner) AS owners
FROM owned, json_each(owned.doc) AS j
WHERE json_type(j.value) <> 'NULL'
GROUP BY ALL
"""

_EVENTS = "SELECT source, event, count(*) AS messages, max(event_time) AS last_seen FROM ({messages}) GROUP BY ALL"
_IDENTIFIED = (
    "SELECT source, count(DISTINCT profile_id) AS profiles FROM ("
    + PROFILE_EVENTS.format(events="({messages})", identities="identities")
    + ") WHERE type = 'identify' GROUP BY ALL"
)
# Failed messages are counted as they stand (``received_at`` is when they
# arrived, not when they happened, so it cannot be compared with as_of).
_FAILED = """
SELECT source, count(*) AS failed, max(received_at) AS last_failed FROM failed_messages
WHERE status = 'failed' GROUP BY ALL
"""


def _literal(text: str) -> str:
    return exp.Literal.string(text).sql("duckdb")


def _instant(as_of: datetime) -> str:
    return DuckDB().sql(DuckDB().instant(as_utc(as_of).isoformat()))


def data_dictionary(store: StoreReader, as_of: datetime, *, half_life_days: float = HALF_LIFE_DAYS) -> pd.DataFrame:
    """Every source, event, property and trait up to ``as_of``, with its quality (see ``COLUMNS``)."""
    instant = _instant(as_of)
    messages = _MESSAGES.format(as_of=instant)
    values = [
        store.query(_VALUES.format(messages=messages, owner=owner, email=_literal(EMAIL))).to_pylist()
        for owner in (_PROPERTY_OWNER, _TRAIT_OWNER)
    ]
    events = store.query(_EVENTS.format(messages=messages)).to_pylist()
    identified = {r["source"]: r["profiles"] for r in store.query(_IDENTIFIED.format(messages=messages)).to_pylist()}
    failed = {r["source"]: r for r in store.query(_FAILED).to_pylist()}
    owners = {
        (r["source"], r["name"]): r["owners"]
        for r in store.query(_OWNERS.format(messages=messages, owner=_TRAIT_OWNER)).to_pylist()
    }
    per_event = {(r["source"], r["event"]): r["messages"] for r in events}

    rows: list[dict[str, Any]] = []
    properties = _items(values[0], "property", lambda source, event: per_event[(source, event)])
    traits = _items(values[1], "trait", lambda source, event: identified.get(source, 0))
    for trait in traits:
        trait["event"] = None
        trait["present"] = owners.get((trait["source"], trait["name"]), 0)
        trait["completeness"] = trait["present"] / trait["scope"] if trait["scope"] else None
    rows += properties + traits
    for r in events:
        mine = [p for p in properties if (p["source"], p["event"]) == (r["source"], r["event"])]
        rows.append(_summary("event", r["source"], r["event"], r["event"], r["messages"], r["last_seen"], mine))
    for source in sorted({r["source"] for r in events} | set(failed)):
        mine = [row for row in rows if row["kind"] == "event" and row["source"] == source]
        accepted = sum(row["scope"] for row in mine)
        rejected = failed.get(source, {}).get("failed", 0)
        last = max((row["last_seen"] for row in mine), default=None) or failed[source]["last_failed"]
        row = _summary("source", source, None, source, accepted, last, mine)
        row["validity"] = accepted / (accepted + rejected) if accepted + rejected else None
        row["present"] = accepted
        if rejected:
            row["issues"] = [f"{rejected:,} messages failed ({rejected / (accepted + rejected):.2%})", *row["issues"]]
        rows.append(row)
    return _finish(rows, as_of, half_life_days)


def _items(values: list[dict[str, Any]], kind: str, total: Any) -> list[dict[str, Any]]:
    """Property or trait rows from per-type value counts (trait completeness is set by the caller)."""
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for value in values:
        grouped.setdefault((value["source"], value["event"], value["name"]), []).append(value)
    rows = []
    for (source, event, name), counts in sorted(grouped.items()):
        by_type: dict[str, int] = {}
        for c in counts:
            if c["json_type"] != "NULL":
                logical = _TYPES.get(c["json_type"], c["json_type"].lower())
                by_type[logical] = by_type.get(logical, 0) + c["n"]
        present = sum(by_type.values())
        strings = by_type.get("string", 0)
        times = sum(c["times"] for c in counts)
        emails = sum(c["emails"] for c in counts)
        types = sorted(by_type, key=lambda t: (-by_type[t], t))
        dominant = types[0] if types else None
        time_like = bool(_TIME_KEY.search(name)) or (strings > 0 and times >= _TIME_SHARE * strings)
        valid = by_type.get(dominant, 0) if dominant else 0
        issues = []
        if dominant == "string" and time_like:
            valid = times
            if strings - times:
                issues.append(f"{strings - times:,} values are not timestamps")
        elif dominant == "string" and _EMAIL_KEY.search(name):
            valid = emails
            if strings - emails:
                issues.append(f"{strings - emails:,} values are not emails")
        if len(types) > 1:
            issues.append("mixed types: " + ", ".join(f"{t} {by_type[t] / present:.0%}" for t in types))
        scope = total(source, event)
        rows.append(
            {
                "kind": kind,
                "source": source,
                "event": event,
                "name": name,
                "types": types,
                "scope": scope,
                "present": present,
                "completeness": present / scope if scope else None,
                "validity": valid / present if present else None,
                "last_seen": max(c["last_seen"] for c in counts),
                "issues": issues,
            }
        )
    return rows


def _summary(
    kind: str, source: str, event: str | None, name: str, messages: int, last_seen: Any, items: list[dict[str, Any]]
) -> dict[str, Any]:
    """An event or source row: the mean of its items' completeness and validity (1 without items)."""
    return {
        "kind": kind,
        "source": source,
        "event": event,
        "name": name,
        "types": [],
        "scope": messages,
        "present": messages,
        "completeness": _mean(i["completeness"] for i in items),
        "validity": _mean(i["validity"] for i in items),
        "last_seen": last_seen,
        "issues": [],
    }


def _mean(values: Iterable[float | None]) -> float:
    present = [0.0 if v is None else v for v in values]
    return sum(present) / len(present) if present else 1.0


def _finish(rows: list[dict[str, Any]], as_of: datetime, half_life_days: float) -> pd.DataFrame:
    moment = as_utc(as_of)
    for row in rows:
        age = (moment - row["last_seen"]).total_seconds() / 86_400 if row["last_seen"] is not None else None
        row["freshness"] = 0.5 ** (max(age, 0.0) / half_life_days) if age is not None else 0.0
        if age is not None and age > half_life_days:
            row["issues"].append(f"not seen for {age:.0f} days")
        row["score"] = quality_score(row["completeness"], row["validity"], row["freshness"])
    order = {"source": 0, "event": 1, "property": 2, "trait": 3}
    rows.sort(key=lambda r: (order[r["kind"]], r["source"], r["event"] or "", r["name"]))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def quality_score(completeness: float | None, validity: float | None, freshness: float) -> float:
    """``100 * (0.4 completeness + 0.4 validity + 0.2 freshness)``, missing parts as 0, to one decimal."""
    parts = {"completeness": completeness or 0.0, "validity": validity or 0.0, "freshness": freshness}
    return round(100 * sum(WEIGHTS[k] * v for k, v in parts.items()), 1)
