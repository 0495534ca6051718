"""Validation and normalisation of raw Segment messages, as one SQL pass.

Every way in (HTTP, JSONL, CSV, Parquet, failed-message replay) hands the
same ``staged`` relation to this query, so every message is judged by the
same rules. Doing it in DuckDB parses each message once, in C++, on every
core; Python only moves Arrow buffers.

``staged`` columns: ``ord`` (position in the staged batch), ``source``,
``arrived_at`` (when segmint received it), ``batch_sent_at`` (the batch
envelope's ``sentAt``, text or NULL), ``raw`` (the message text, perhaps
with a newline after it: see ``TEXT``),
``origin`` and ``line`` (where it came from, for the failed-messages
store: see ``staging.py``) and
``trust_received_at`` (true for files: the message's own ``receivedAt`` is
the time received).

The result has one row per staged message: ``reason`` is NULL for a valid
message and says what is wrong otherwise; ``raw`` is kept for invalid
messages only (the failed-messages store needs it, events do not);
``msg_key``/``msg_key_hi`` are the 128-bit MD5 of (source, message id),
the deduplication key.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_MESSAGE_BYTES = 32 * 1024

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")

# Top-level fields segmint stores in their own columns; everything else
# in a message is kept verbatim in ``extra``.
_FIELDS: tuple[tuple[str, str], ...] = (
    ("type", "VARCHAR"),
    ("messageId", "VARCHAR"),
    ("userId", "VARCHAR"),
    ("anonymousId", "VARCHAR"),
    ("event", "VARCHAR"),
    ("name", "VARCHAR"),
    ("previousId", "VARCHAR"),
    ("groupId", "VARCHAR"),
    ("timestamp", "VARCHAR"),
    ("originalTimestamp", "VARCHAR"),
    ("sentAt", "VARCHAR"),
    ("receivedAt", "VARCHAR"),
    ("properties", "JSON"),
    ("traits", "JSON"),
    ("context", "JSON"),
    ("integrations", "JSON"),
)
_SCALARS = tuple(name for name, kind in _FIELDS if kind == "VARCHAR")

# One parse: every field as its JSON text (minified by the parser), from
# which its JSON type and its value are read without parsing the message again.
_SCHEMA = "{" + ",".join(f'"{name}":"JSON"' for name, _ in _FIELDS) + "}"
_STRIP = "{" + ",".join(f'"{name}":null' for name, _ in _FIELDS) + "}"
_KNOWN = "[" + ",".join(f"'{name}'" for name, _ in _FIELDS) + "]"

# An identifier is a string or an integer; a float or an object is refused.
ID_JSON_TYPES = ("VARCHAR", "BIGINT", "UBIGINT")
_ID_TYPES = "[" + ",".join(f"'{t}'" for t in ID_JSON_TYPES) + "]"


def _json_kind(text: str) -> str:
    """The JSON type of a value's minified text, as ``json_type`` names it.

    The first character settles all but numbers, and only numbers are
    parsed (``json_type`` knows which integers fit 64 bits).
    """
    return (
        f"CASE left({text}, 1) WHEN '\"' THEN 'VARCHAR' WHEN '{{' THEN 'OBJECT' WHEN '[' THEN 'ARRAY'"
        f" WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' ELSE json_type({text}) END"
    )


def _json_text(text: str) -> str:
    """A value's minified JSON text as SQL text: strings unescaped, anything else as written.

    The parser escapes only what must be escaped, so a string without a
    backslash is its text between the quotes.
    """
    return (
        f"CASE WHEN left({text}, 1) <> '\"' THEN {text}::VARCHAR"
        f" WHEN contains({text}, '\\') THEN {text} ->> '$' ELSE ({text}::VARCHAR)[2:-2] END"
    )


# The message text of a staged ``raw``: a JSONL line keeps its newline
# (staging.py). The JSON functions skip it as whitespace; only what needs
# the very text (a hash, a failed message kept) cuts it, since cutting
# every message costs more than judging it (measured).
TEXT = "CASE WHEN ends_with(raw, chr(10)) THEN raw[:-2] ELSE raw END"


def _one_of(expr: str, options: str) -> str:
    # list_contains, not IN: DuckDB plans `x IN (...)` over a column as a
    # join, which made this query several times slower to plan and run.
    return f"list_contains({options}, {expr})"


def _t(field: str) -> str:
    """The JSON type of a top-level field: NULL when absent or null."""
    return f'"t_{field}"'


def _v(field: str) -> str:
    """A scalar top-level field as text (see ``_json_text``)."""
    return f'"v_{field}"'


def _present(field: str) -> str:
    return f"{_t(field)} IS NOT NULL"


_IDS = ("messageId", "userId", "anonymousId", "previousId", "groupId")
_INSTANTS = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")
_OBJECTS = ("properties", "traits", "context", "integrations")
_ISO_PREFIX = r"'\s*\d{4}-\d{2}-\d{2}([T ].*)?'"


def _field_columns() -> str:
    """``t_NAME`` (JSON type) for every known field, ``v_NAME`` (text) for the scalar ones."""
    def value(name: str) -> str:
        return f'j."{name}"'

    columns = [f"{_json_kind(value(name))} AS {_t(name)}" for name, _ in _FIELDS]
    columns += [f"{_json_text(value(name))} AS {_v(name)}" for name in _SCALARS]
    return ",\n        ".join(columns)


def _id_value(field: str) -> str:
    """An identifier as text: strings trimmed of spaces, integers as digits, else NULL."""
    return f"CASE WHEN {_one_of(_t(field), _ID_TYPES)} THEN nullif(trim({_v(field)}), '') END"


# Instants segmint accepts: those a Python datetime can hold, so that every
# stored instant can be read back anywhere.
FIRST_INSTANT = "0001-01-01 00:00:00+00"
LAST_INSTANT = "9999-12-31 23:59:59.999999+00"
_IN_RANGE = f"BETWEEN TIMESTAMPTZ '{FIRST_INSTANT}' AND TIMESTAMPTZ '{LAST_INSTANT}'"
OUT_OF_RANGE_REASON = (
    "the event time derived from originalTimestamp and the sentAt skew falls outside the years 1 to 9999"
)


def instant_sql(text: str) -> str:
    """Text parsed as an instant, or NULL when it is not an ISO-8601 date-time in range."""
    parsed = f"try_cast({text} AS TIMESTAMPTZ)"
    return (
        f"CASE WHEN regexp_full_match({text}, {_ISO_PREFIX}) AND ({parsed} {_IN_RANGE})"
        f" THEN {parsed} END"
    )


def _reason() -> str:
    types = ", ".join(MESSAGE_TYPES)
    checks: list[tuple[str, str]] = [
        ("NOT is_json", "'not valid JSON'"),
        ("top_type <> 'OBJECT'", "'a message must be a JSON object, not ' || lower(top_type)"),
        (
            f"size > {MAX_MESSAGE_BYTES}",
            f"'message is ' || size || ' bytes; the limit is {MAX_MESSAGE_BYTES} bytes (32 KB)'",
        ),
        (f"NOT {_present('type')}", f"'missing type: expected one of {types}'"),
        (
            f"{_t('type')} <> 'VARCHAR' OR NOT {_one_of(_v('type'), str(list(MESSAGE_TYPES)))}",
            f"'unknown type ' || coalesce('\"' || {_v('type')} || '\"', 'null') || ': expected one of {types}'",
        ),
    ]
    for field in _IDS:
        checks.append(
            (f"{_present(field)} AND NOT {_one_of(_t(field), _ID_TYPES)}",
             f"'{field} must be a string or an integer'")
        )
    checks += [
        (
            f"{_v('type')} <> 'alias' AND id_user IS NULL AND id_anonymous IS NULL",
            "'a message needs a userId or an anonymousId'",
        ),
        (
            f"{_v('type')} = 'track' AND ({_t('event')} IS DISTINCT FROM 'VARCHAR' OR trim({_v('event')}) = '')",
            "'a track message needs an event name (a non-empty string)'",
        ),
        (
            f"({_v('type')} = 'page' OR {_v('type')} = 'screen') AND {_present('name')} AND {_t('name')} <> 'VARCHAR'",
            "'name must be a string'",
        ),
        (
            f"{_v('type')} = 'alias' AND (id_previous IS NULL OR id_user IS NULL)",
            "'an alias message needs both previousId and userId'",
        ),
        (f"{_v('type')} = 'group' AND id_group IS NULL", "'a group message needs a groupId'"),
    ]
    for field, column in zip(_INSTANTS, ("at_timestamp", "at_original", "at_sent", "at_received")):
        checks.append(
            (
                f"{_present(field)} AND ({_t(field)} <> 'VARCHAR' OR {column} IS NULL)",
                f"'{field} is not an ISO-8601 date-time in the years 1 to 9999: ' || coalesce({_v(field)}, '?')",
            )
        )
    for field in _OBJECTS:
        checks.append((f"{_present(field)} AND {_t(field)} <> 'OBJECT'", f"'{field} must be a JSON object'"))
    whens = "\n".join(f"            WHEN {cond} THEN {text}" for cond, text in checks)
    return f"CASE\n{whens}\n        END"


def normalize_sql(staged: str = "staged", *, carry: Sequence[str] = ()) -> str:
    """The query that validates and normalises every row of ``staged``.

    ``carry``: more columns of ``staged`` passed through to the result.
    """
    carried = "".join(f",\n    {column}" for column in carry)
    return f"""
WITH parsed AS (
    -- One parse of each message. try(): text that is not JSON gives NULL
    -- (as does the JSON null); anything else that is not an object gives
    -- a struct of NULLs, so its first character tells an object apart.
    SELECT *, try(from_json(raw, '{_SCHEMA}')) AS j, strlen(raw) - ends_with(raw, chr(10))::INT AS size FROM {staged}
), typed AS (
    SELECT *,
        CASE WHEN j IS NOT NULL AND starts_with(raw, '{{') THEN 'OBJECT' ELSE try(json_type(raw)) END AS top_type
    FROM parsed
), fields AS (
    SELECT *, top_type IS NOT NULL AS is_json,
        {_field_columns()}
    FROM typed
), values AS (
    SELECT *,
        {_id_value('messageId')} AS id_message,
        {_id_value('userId')} AS id_user,
        {_id_value('anonymousId')} AS id_anonymous,
        {_id_value('previousId')} AS id_previous,
        {_id_value('groupId')} AS id_group,
        {instant_sql(_v('timestamp'))} AS at_timestamp,
        {instant_sql(_v('originalTimestamp'))} AS at_original,
        {instant_sql(_v('sentAt'))} AS at_sent,
        {instant_sql(_v('receivedAt'))} AS at_received,
        {instant_sql('batch_sent_at')} AS at_batch_sent
    FROM fields
), judged AS (
    SELECT *,
        {_reason()} AS early_reason,
        coalesce(at_sent, at_batch_sent) AS ts_sent,
        CASE WHEN trust_received_at THEN coalesce(at_received, arrived_at) ELSE arrived_at END
            AS ts_received
    FROM values
), timed AS (
    SELECT *,
        coalesce(
            at_timestamp,
            CASE WHEN at_original IS NOT NULL AND ts_sent IS NOT NULL
                 THEN ts_received - (ts_sent - at_original) END,
            at_original,
            ts_received
        ) AS ts_event
    FROM judged
), final AS (
    SELECT *,
        coalesce(early_reason, CASE WHEN NOT (ts_event {_IN_RANGE}) THEN '{OUT_OF_RANGE_REASON}' END) AS reason
    FROM timed
), keyed AS (
    -- The id messages are deduplicated by: their messageId, else the MD5 of their text.
    SELECT *, CASE WHEN reason IS NULL THEN coalesce(id_message, 'md5-' || md5({TEXT})) END AS full_id FROM final
), hashed AS (
    -- One MD5 for both halves: md5_number's high 64 bits are md5_number_lower, its low ones md5_number_upper.
    SELECT *, md5_number(source || chr(0) || full_id) AS key128 FROM keyed
)
SELECT
    ord,
    source,
    CASE WHEN line IS NULL THEN origin ELSE origin || line END AS origin,
    CASE WHEN reason IS NOT NULL THEN {TEXT} END AS raw,
    reason,
    ts_received AS received_at,
    full_id AS message_id,
    (key128 >> 64)::UBIGINT AS msg_key,
    (key128 & 18446744073709551615::UHUGEINT)::UBIGINT AS msg_key_hi,
    CASE WHEN reason IS NULL THEN {_v('type')} END AS type,
    CASE WHEN {_v('type')} = 'track' THEN {_v('event')} END AS event,
    CASE WHEN ({_v('type')} = 'page' OR {_v('type')} = 'screen') AND {_t('name')} = 'VARCHAR' THEN {_v('name')} END AS name,
    id_user AS user_id,
    id_anonymous AS anonymous_id,
    id_previous AS previous_id,
    id_group AS group_id,
    CASE WHEN reason IS NULL THEN ts_event END AS event_time,
    at_timestamp AS "timestamp",
    at_original AS original_timestamp,
    ts_sent AS sent_at,
    CASE WHEN {_t('properties')} = 'OBJECT' THEN j.properties END AS properties,
    -- identify traits; some SDKs (rudder-sdk-python) send them only in context.traits
    CASE WHEN {_t('traits')} = 'OBJECT' THEN j.traits
         WHEN {_v('type')} = 'identify' AND json_type(j.context, '$.traits') = 'OBJECT'
         THEN json_extract(j.context, '$.traits') END AS traits,
    CASE WHEN {_t('context')} = 'OBJECT' THEN j.context END AS context,
    CASE WHEN {_t('integrations')} = 'OBJECT' THEN j.integrations END AS integrations,
    -- Rebuilding the message without its known fields is costly; most
    -- messages have no other key.
    CASE WHEN reason IS NULL AND len(list_filter(json_keys(raw), lambda k: NOT list_contains({_KNOWN}, k))) > 0 THEN
        nullif(json_merge_patch(raw, '{_STRIP}')::VARCHAR, '{{}}')::JSON END AS extra{carried}
FROM hashed
"""
