"""Publishing learned values (RFM scores, clusters, model scores) as traits.

segmint's rule for traits is the Segment one: a profile's traits are its
latest ``identify`` values, key by key, by event time. Anything segmint
learns about a profile is therefore *published as an identify call* from
the source ``segmint``, stamped with the instant it was computed. That one
choice gives learned traits everything stored traits have, for free:

- both segment evaluators read them (``trait: churn_probability``) and agree,
  because they already agree on identify traits;
- ``--as-of`` sees the score that was current then, not the newest one;
- erasure finds them with the rest of the person's messages;
- republishing the same values at the same instant is deduplicated by
  ``messageId`` (producer, profile, instant), so re-running a command
  changes nothing.

A value that is missing (None or NaN) is published as JSON null, which
clears an older value of that trait.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import orjson
import pandas as pd
import pyarrow as pa

from segmint import __version__
from segmint.ingest.ingestor import IngestResult
from segmint.ingest.staging import Arrival, stage

SOURCE = "segmint"


class TraitWriter(Protocol):
    """A local ``Ingestor`` or a ``RemoteStore``: anything that ingests staged messages."""

    def ingest(self, staged: pa.Table) -> IngestResult: ...


@dataclass(frozen=True)
class PublishReport:
    producer: str
    at: datetime
    profiles: int
    accepted: int
    duplicates: int
    failed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "producer": self.producer,
            "at": self.at.isoformat(),
            "profiles": self.profiles,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "failed": self.failed,
        }


def plain_value(value: Any) -> Any:
    """A JSON-ready trait value: NumPy scalars unwrapped, NaN, infinities and pandas' NA as null."""
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return value


def identify_messages(
    rows: Iterable[tuple[str, str | None, Mapping[str, Any]]], *, producer: str, at: datetime
) -> list[str]:
    """One identify message per ``(profile_id, user_id, traits)``.

    A profile with a ``userId`` is addressed by it; an anonymous profile by
    its id, which is its ``anonymousId``. Either way the identity graph puts
    the message in the same profile.
    """
    stamp = at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    messages = []
    for profile_id, user_id, traits in rows:
        message: dict[str, Any] = {
            "type": "identify",
            "messageId": f"{producer}:{profile_id}:{stamp}",
            "timestamp": stamp,
            "traits": {key: plain_value(value) for key, value in traits.items()},
            "context": {"library": {"name": "segmint", "version": __version__}, "producer": producer},
        }
        if user_id is not None:
            message["userId"] = user_id
        else:
            message["anonymousId"] = profile_id
        messages.append(orjson.dumps(message).decode())
    return messages


def publish_traits(
    writer: TraitWriter,
    user_ids: Mapping[str, str | None],
    values: pd.DataFrame,
    *,
    producer: str,
    at: datetime,
) -> PublishReport:
    """Publish ``values`` (a ``profile_id`` column and one column per trait).

    ``user_ids`` maps each profile id to its user id (None for anonymous
    profiles); ``profile_user_ids`` reads it from the store. Profiles that
    are not in it are skipped: they were erased or merged since.
    """
    trait_columns = [c for c in values.columns if c != "profile_id"]
    records = values[["profile_id", *trait_columns]].itertuples(index=False, name=None)
    rows = [
        (str(row[0]), user_ids[str(row[0])], dict(zip(trait_columns, row[1:])))
        for row in records
        if str(row[0]) in user_ids
    ]
    result = send(writer, identify_messages(rows, producer=producer, at=at), producer=producer)
    return PublishReport(producer, at, len(rows), result.accepted, result.duplicates, result.failed)


def send(writer: TraitWriter, messages: list[str], *, producer: str) -> IngestResult:
    """Ingest messages segmint wrote itself, from the source ``segmint``, origin ``segmint:<producer>``."""
    if not messages:
        return IngestResult(received=0)
    arrival = Arrival(source=SOURCE, arrived_at=datetime.now(timezone.utc), origin=f"segmint:{producer}")
    return writer.ingest(stage(messages, arrival))


def store_writer(store: Any) -> TraitWriter:
    """A store's way in: a server's ``RemoteStore`` ingests itself; a local store through an ``Ingestor``."""
    from segmint.ingest.ingestor import Ingestor

    return store if hasattr(store, "ingest") else Ingestor(store)


def publish_to_store(
    store: Any, identity: Any, values: pd.DataFrame, *, producer: str, at: datetime
) -> PublishReport:
    """Publish ``values`` into a store (local, or the server's) and bring its profile tables up to date.

    What RFM, clustering and the models all do with what they learn. The
    profiles are rebuilt only when something new was stored: republishing
    the same values at the same instant changes no message, so no trait.
    """
    from segmint.identity.profiles import refresh

    report = publish_traits(store_writer(store), profile_user_ids(store), values, producer=producer, at=at)
    if report.accepted:
        refresh(store, identity)
    return report


def profile_user_ids(store: Any) -> dict[str, str | None]:
    """Every profile id in the store with its user id (None when anonymous)."""
    table = store.query("SELECT profile_id, user_id FROM profiles")
    return dict(zip(table.column("profile_id").to_pylist(), table.column("user_id").to_pylist()))
