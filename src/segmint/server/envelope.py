"""Reading a Tracking API request: write key, gzip, limits, and the messages.

Pure functions from (path, headers, body) to the messages to stage, so the
rules are testable without a server. Limits follow Segment's documentation:
32 KB a message (checked by the ingestor, so that an oversized message in a
batch fails alone), 500 KB and 2,500 messages a batch.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from segmint.config.model import Config
from segmint.errors import AuthError, PayloadError
from segmint.ingest.validate import dumps, parse_message

MAX_BATCH_BYTES = 500 * 1024
MAX_BATCH_MESSAGES = 2500
MAX_MESSAGE_BYTES = 32 * 1024

# Path suffix -> message type; "batch" for envelopes. analytics.js uses the
# one-letter forms with text/plain bodies.
ENDPOINTS: dict[str, str] = {
    "batch": "batch", "b": "batch",
    "track": "track", "t": "track",
    "identify": "identify", "i": "identify",
    "page": "page", "p": "page",
    "screen": "screen", "s": "screen",
    "group": "group", "g": "group",
    "alias": "alias", "a": "alias",
}  # fmt: skip


@dataclass(frozen=True)
class TrackingRequest:
    source: str
    raws: list[str]
    batch_sent_at: str | None
    # Each raw text parsed back (what orjson.loads(raw) gives, validate.NOT_JSON
    # if it fails), so that validation does not parse every message twice.
    messages: list[Any] | None = None


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The request body, gunzipped if need be, refused beyond ``limit`` bytes."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        data = body
    elif encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 31 if encoding != "deflate" else 15
        try:
            inflater = zlib.decompressobj(wbits)
            # Inflate at most limit + 1 bytes: a small bomb cannot grow large.
            data = inflater.decompress(body, limit + 1)
        except zlib.error as error:
            raise PayloadError(f"body is not valid {encoding}: {error}") from None
    else:
        raise PayloadError(f"unsupported Content-Encoding {content_encoding!r}; use gzip or none", 415)
    if len(data) > limit:
        raise PayloadError(
            f"body is larger than {limit // 1024} KB; split it into smaller batches", 413
        )
    return data


def parse_tracking(
    kind: str, headers: Mapping[str, str], body: bytes, config: Config
) -> TrackingRequest:
    """Authenticate and unpack one Tracking API request."""
    limit = MAX_BATCH_BYTES if kind == "batch" else MAX_MESSAGE_BYTES
    data = decode_body(body, headers.get("content-encoding"), limit)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        # Authenticate first where we can, so a stranger learns nothing.
        _source(config, headers.get("authorization"), None)
        raise PayloadError(f"body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        _source(config, headers.get("authorization"), None)
        raise PayloadError("body must be a JSON object")
    body_key = payload.pop("writeKey", None)
    source = _source(config, headers.get("authorization"), body_key if isinstance(body_key, str) else None)
    if kind == "batch":
        messages = payload.get("batch")
        if not isinstance(messages, list):
            raise PayloadError('a batch body needs a "batch" array of messages')
        if len(messages) > MAX_BATCH_MESSAGES:
            raise PayloadError(
                f"a batch may hold at most {MAX_BATCH_MESSAGES} messages; this one has {len(messages)}", 413
            )
        sent_at = payload.get("sentAt")
        raws, parsed = _texts(messages)
        return TrackingRequest(source, raws, sent_at if isinstance(sent_at, str) else None, parsed)
    # A single message: the path names its type (Segment's rule).
    payload["type"] = kind
    raws, parsed = _texts([payload])
    return TrackingRequest(source, raws, None, parsed)


def _texts(messages: list[Any]) -> tuple[list[str], list[Any]]:
    """Each message as text, and that text parsed back (``orjson.loads(raw)``).

    orjson reads back what it wrote, equal to what it was given, so a
    message it serialised is its own parse; the rare one past orjson's
    nesting limit (written by the standard library) is parsed from its text,
    as validation would.
    """
    raws, parsed = [], []
    for message in messages:
        if isinstance(message, dict):
            message.pop("writeKey", None)
        try:
            raws.append(orjson.dumps(message).decode())
            parsed.append(message)
            continue
        except TypeError:
            pass
        try:
            raw = dumps(message)
        except RecursionError:
            raise PayloadError("a message nests too deeply to be read; flatten its properties") from None
        raws.append(raw)
        parsed.append(parse_message(raw))
    return raws, parsed


def _source(config: Config, authorization: str | None, body_key: str | None) -> str:
    key = _basic_user(authorization) or body_key
    if not key:
        raise AuthError("missing write key: send it as the basic-auth user name or as writeKey in the body")
    source = config.source_for_key(key)
    if source is None:
        raise AuthError("unknown write key")
    return source.name


def _basic_user(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=False).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, _, _password = decoded.partition(":")
    return user or None
