"""Which identifiers each message carries, and which it links, as SQL.

One definition serves the batch rebuild of the store's profiles, the
collector's incremental updates and the segment evaluators, so they can
never disagree on who a message belongs to.

A message's *primary* identifier is its ``userId``, else its
``anonymousId``: the profile that message's event counts for. Links:

- ``userId`` with ``anonymousId`` when a message carries both;
- ``alias``: ``userId`` with ``previousId`` (taken as an anonymous id);
- the primary identifier with each configured identifier found in the
  message (e.g. a normalised ``traits.email``).
"""

from __future__ import annotations

from typing import Any

import orjson

from segmint.config.model import IdentifierConfig, IdentityConfig
from segmint.identity.graph import IdKey

_ROOTS = ("properties", "traits", "context")


def _path_value(path: str) -> str:
    root, _, rest = path.partition(".")
    if root not in _ROOTS or not rest:
        # Validated at config load; this guards direct callers.
        raise ValueError(f"identifier path {path!r} must start with one of {', '.join(_ROOTS)}")
    json_path = "$" + "".join(f'."{part}"' for part in rest.split("."))
    return f"json_extract_string({root}, '{json_path}')"


def _normalized(expr: str, steps: tuple[str, ...]) -> str:
    for step in steps:
        if step == "trim":
            expr = f"trim({expr})"
        elif step == "lowercase":
            expr = f"lower({expr})"
        elif step == "digits":
            expr = f"regexp_replace({expr}, '[^0-9]', '', 'g')"
    return f"nullif({expr}, '')"


def identifier_value_sql(identifier: IdentifierConfig) -> str:
    """The identifier's value in a message: first path that has one, normalised."""
    values = [_normalized(_path_value(p), identifier.normalize) for p in identifier.paths]
    return values[0] if len(values) == 1 else f"coalesce({', '.join(values)})"


_PRIMARY = (
    "seq, event_time AS at_time, "
    "CASE WHEN user_id IS NOT NULL THEN 'user_id' ELSE 'anonymous_id' END AS p_kind, "
    "coalesce(user_id, anonymous_id) AS p_value"
)


def message_ids_sql(identity: IdentityConfig, events: str = "events") -> str:
    """Per message and identifier it carries: where and when, and its primary id.

    Columns: ``seq, at_time, p_kind, p_value, kind, value``, one row per
    identifier the message carries (the primary one included).
    """
    parts = [
        f"SELECT {_PRIMARY}, 'user_id' AS kind, user_id AS value FROM {events} WHERE user_id IS NOT NULL",
        f"SELECT {_PRIMARY}, 'anonymous_id', anonymous_id FROM {events} WHERE anonymous_id IS NOT NULL",
        f"SELECT {_PRIMARY}, 'anonymous_id', previous_id FROM {events} WHERE type = 'alias'",
    ]
    for name, cfg in identity.identifiers.items():
        value = identifier_value_sql(cfg)
        parts.append(f"SELECT {_PRIMARY}, '{name}', {value} FROM {events} WHERE {value} IS NOT NULL")
    return "\nUNION ALL\n".join(parts)


def observations_sql(identity: IdentityConfig, events: str = "events") -> str:
    """Every identifier with its first appearance (event time, then seq)."""
    return f"""
SELECT kind, value, min(struct_pack(t := at_time, s := seq)) AS first
FROM ({message_ids_sql(identity, events)})
GROUP BY kind, value
"""


def links_sql(identity: IdentityConfig, events: str = "events") -> str:
    """Every distinct link with its first appearance.

    Only the first appearance matters: resolution only ever joins, so a
    link refused once stays refused and one accepted once is a no-op later.
    """
    return f"""
SELECT p_kind AS kind_a, p_value AS value_a, kind AS kind_b, value AS value_b,
       min(struct_pack(t := at_time, s := seq)) AS first
FROM ({message_ids_sql(identity, events)})
WHERE NOT (kind = p_kind AND value = p_value)
GROUP BY ALL
"""


# ---- the same rules, one message at a time (for live state) -----------------

_SPACES = "\u0020\u00a0\u1680" + "".join(chr(c) for c in range(0x2000, 0x200B)) + "\u202f\u205f\u3000"


def simple_lower(text: str) -> str:
    """Lowercase one character at a time, as DuckDB's lower() does.

    Python's str.lower() applies full case mapping ('İ' becomes two
    characters, a final 'Σ' becomes 'ς'); DuckDB maps each character alone.
    ASCII text (almost every email) lowers the same both ways, in one call.
    """
    if text.isascii():
        return text.lower()
    return "".join(ch.lower()[:1] for ch in text)


def _normalize_value(value: str, steps: tuple[str, ...]) -> str | None:
    for step in steps:
        if step == "trim":
            value = value.strip(_SPACES)  # DuckDB's trim(): space separators only
        elif step == "lowercase":
            value = simple_lower(value)
        elif step == "digits":
            value = "".join(ch for ch in value if "0" <= ch <= "9")
    return value or None


def _lookup(roots: dict[str, Any], path: str) -> str | None:
    root, _, rest = path.partition(".")
    value: Any = roots.get(root)
    for part in rest.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return orjson.dumps(value).decode()


def message_ids(row: dict[str, Any], identity: IdentityConfig) -> tuple[IdKey, list[IdKey]]:
    """A stored event's primary identifier and every identifier it carries.

    ``row`` is a row of the ``events`` table; JSON columns may be text.
    The Python twin of :func:`message_ids_sql`.
    """
    user, anonymous = row.get("user_id"), row.get("anonymous_id")
    primary: IdKey = ("user_id", user) if user is not None else ("anonymous_id", anonymous)
    carried: list[IdKey] = []
    if user is not None:
        carried.append(("user_id", user))
    if anonymous is not None:
        carried.append(("anonymous_id", anonymous))
    if row.get("type") == "alias" and row.get("previous_id") is not None:
        carried.append(("anonymous_id", row["previous_id"]))
    if identity.identifiers:
        roots = {name: _json(row.get(name)) for name in _ROOTS}
        for name, cfg in identity.identifiers.items():
            for path in cfg.paths:
                found = _lookup(roots, path)
                value = _normalize_value(found, cfg.normalize) if found is not None else None
                if value is not None:
                    carried.append((name, value))
                    break
    return primary, carried


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value
