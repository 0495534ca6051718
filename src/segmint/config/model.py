"""The typed shape of ``segmint.yaml``.

Every section is a frozen pydantic model with ``extra="forbid"``, so a typo
in a key is an error that names the key, not a silently ignored setting.
The ``segments`` and ``traits`` sections are kept raw here: their own
loaders validate each definition separately, so that one bad segment never
stops the others from loading.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """A source of messages (a website, an app, a file import) and its write key."""

    name: str
    write_key: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise ValueError("a source name may hold letters, digits, '_', '-' and '.'")
        return value


Normalizer = Literal["trim", "lowercase", "digits"]


class IdentifierConfig(_Strict):
    """An extra identifier (such as an email) that joins ids into one profile.

    ``paths`` are dot paths into the message (``traits.email``,
    ``context.traits.email``); the first non-empty value found is used,
    after the ``normalize`` steps are applied in order.
    """

    paths: tuple[str, ...]
    normalize: tuple[Normalizer, ...] = ("trim",)


class IdentityConfig(_Strict):
    """How identifiers join into profiles.

    ``limits`` caps how many distinct ids of each kind one profile may hold;
    a join that would break a cap is refused and recorded as a conflict.
    The default cap of one ``user_id`` is what keeps two different users
    from ever being merged silently.
    """

    identifiers: dict[str, IdentifierConfig] = Field(default_factory=dict)
    limits: dict[str, int] = Field(default_factory=lambda: {"user_id": 1, "anonymous_id": 100})
    max_ids: int = 1000

    @field_validator("identifiers")
    @classmethod
    def _identifier_names(cls, value: dict[str, IdentifierConfig]) -> dict[str, IdentifierConfig]:
        for name in value:
            if not NAME.match(name) or name in ("user_id", "anonymous_id"):
                raise ValueError(
                    f"identifier {name!r}: use a lowercase name other than user_id/anonymous_id"
                )
        return value

    @field_validator("limits")
    @classmethod
    def _limits(cls, value: dict[str, int]) -> dict[str, int]:
        merged = {"user_id": 1, "anonymous_id": 100} | dict(value)
        for kind, cap in merged.items():
            if cap < 1:
                raise ValueError(f"limit for {kind!r} must be at least 1")
        return merged

    def id_kinds(self) -> tuple[str, ...]:
        return ("user_id", "anonymous_id", *self.identifiers)


class ImportMapping(_Strict):
    """How the rows of a CSV or Parquet table become Segment messages.

    A customers table becomes ``identify`` calls; an orders table becomes
    ``track`` calls of ``Order Completed``. Column names map to message
    fields; ``traits``/``properties`` map output keys to column names.
    """

    match: str | None = None
    type: Literal["identify", "track", "page", "screen", "group"]
    event: str | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    timestamp: str | None = None
    message_id: str | None = None
    traits: dict[str, str] | Literal["*"] = Field(default_factory=dict)
    properties: dict[str, str] | Literal["*"] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _coherent(self) -> "ImportMapping":
        if self.type == "track" and not self.event:
            raise ValueError("a track mapping needs `event` (e.g. event: Order Completed)")
        if not (self.user_id or self.anonymous_id):
            raise ValueError("a mapping needs `user_id` or `anonymous_id`: the column that identifies the person")
        return self

    def columns(self) -> set[str]:
        """Every column this mapping reads (``*`` mappings read what they find)."""
        used = {c for c in (self.user_id, self.anonymous_id, self.timestamp, self.message_id) if c}
        for part in (self.traits, self.properties):
            if isinstance(part, dict):
                used.update(part.values())
        return used


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8470, ge=0, le=65535)
    # Group commit: a batch of requests is written in one transaction. The
    # writer commits as soon as it is idle, so this only bounds how long a
    # request may wait for company under load.
    commit_interval_ms: float = Field(2.0, ge=0, le=1000)


class StoreConfig(_Strict):
    path: str = "segmint.duckdb"


class Config(_Strict):
    """The whole configuration; ``source_file`` says where it came from."""

    store: StoreConfig = StoreConfig()
    sources: tuple[SourceConfig, ...] = ()
    secret_key: str | None = None
    identity: IdentityConfig = IdentityConfig()
    imports: dict[str, ImportMapping] = Field(default_factory=dict)
    server: ServerConfig = ServerConfig()
    segments: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    source_file: str | None = Field(default=None, exclude=True)
    base_dir: str | None = Field(default=None, exclude=True)

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, value: tuple[SourceConfig, ...]) -> tuple[SourceConfig, ...]:
        names = [s.name for s in value]
        keys = [s.write_key for s in value if s.write_key]
        if len(set(names)) != len(names):
            raise ValueError("source names must be unique")
        if len(set(keys)) != len(keys):
            raise ValueError("two sources share a write key; each source needs its own")
        return value

    def source_for_key(self, write_key: str) -> SourceConfig | None:
        for source in self.sources:
            if source.write_key is not None and source.write_key == write_key:
                return source
        return None
