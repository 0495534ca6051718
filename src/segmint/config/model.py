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
    # Processes that read and judge large requests beside the server
    # (server/judging.py); None: one fewer than the machine's cores, 0: none.
    judge_workers: int | None = Field(None, ge=0, le=64)


class StoreConfig(_Strict):
    path: str = "segmint.duckdb"


class RfmRule(_Strict):
    """One row of the RFM segment table: a name and a score range per measure.

    A range is ``[low, high]`` (inclusive) or one score; the first rule
    (in order) whose three ranges hold a customer's scores names them.
    """

    name: str
    recency: tuple[int, int]
    frequency: tuple[int, int]
    monetary: tuple[int, int]

    @field_validator("recency", "frequency", "monetary", mode="before")
    @classmethod
    def _range(cls, value: Any) -> Any:
        value = [value, value] if isinstance(value, int) else value
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value)
                and 1 <= value[0] <= value[1] <= 5):
            raise ValueError(f"{value!r} is not a score range: write [low, high] with 1 <= low <= high <= 5, or one score")
        return tuple(value)


def _rule(name: str, r: tuple[int, int], f: tuple[int, int], m: tuple[int, int]) -> RfmRule:
    return RfmRule(name=name, recency=r, frequency=f, monetary=m)


# The standard table (docs/rfm.md): first match wins; it names every one of
# the 125 score cells, and every segment names at least one.
DEFAULT_RFM_SEGMENTS = (
    _rule("Champions", (4, 5), (4, 5), (4, 5)),
    _rule("Loyal Customers", (3, 5), (3, 5), (3, 5)),
    _rule("Cannot Lose Them", (1, 2), (4, 5), (4, 5)),
    _rule("At Risk", (1, 2), (3, 5), (1, 5)),
    _rule("New Customers", (5, 5), (1, 1), (1, 5)),
    _rule("Promising", (4, 4), (1, 1), (1, 5)),
    _rule("Potential Loyalists", (4, 5), (2, 5), (1, 5)),
    _rule("Need Attention", (3, 3), (2, 5), (1, 5)),
    _rule("About to Sleep", (3, 3), (1, 1), (1, 5)),
    _rule("Lost", (1, 1), (1, 2), (1, 2)),
    _rule("Hibernating", (1, 2), (1, 2), (1, 5)),
)


class RfmConfig(_Strict):
    """RFM scoring (docs/rfm.md): which events are orders, what an order is worth, the segment table."""

    events: tuple[str, ...] = ("Order Completed",)
    # The order's value: the first of these properties that holds a number.
    value: tuple[str, ...] = ("total", "revenue")
    monetary: Literal["sum", "avg"] = "sum"
    segments: tuple[RfmRule, ...] = DEFAULT_RFM_SEGMENTS
    # The name of customers no rule names (the default table names everyone).
    other: str = "Others"

    @field_validator("events", "value")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not all(value):
            raise ValueError("give at least one non-empty name, e.g. [Order Completed] or [total, revenue]")
        return value

    @field_validator("segments")
    @classmethod
    def _unique_names(cls, value: tuple[RfmRule, ...]) -> tuple[RfmRule, ...]:
        names = [rule.name for rule in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"segment {repeated[0]!r} is named twice; merge its rules or rename one")
        return value


_SPAN = re.compile(r"^(\d+)([smhdw])$")
_SPAN_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def span_seconds(text: str) -> int:
    """Seconds in a span written as an integer and a unit (``90d``, ``12h``, ``2w``)."""
    match = _SPAN.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration: write an integer and a unit s, m, h, d or w (e.g. 90d, 7d)")
    return int(match.group(1)) * _SPAN_SECONDS[match.group(2)]


class ModelPolicy(_Strict):
    """One predictive model (docs/models.md): its horizon, retraining schedule and drift threshold."""

    horizon: str = "90d"
    retrain_every: str | None = "7d"  # null: only on drift
    drift_threshold: float = Field(0.2, gt=0)  # PSI above this marks the model stale

    @field_validator("horizon", "retrain_every")
    @classmethod
    def _span(cls, value: str | None) -> str | None:
        if value is not None and span_seconds(value) <= 0:
            raise ValueError("must be longer than 0 (e.g. 90d)")
        return value


class ModelsConfig(_Strict):
    """Churn, propensity and learned CLV: what they read and how ``segmint serve`` keeps them fresh."""

    churn: ModelPolicy = ModelPolicy()
    propensity: ModelPolicy = ModelPolicy()
    clv: ModelPolicy = ModelPolicy()
    score_every: str = "1d"
    order_event: str = "Order Completed"
    amount_property: str = "total"
    traits: tuple[str, ...] = ()  # numeric identify traits used as features

    @field_validator("score_every")
    @classmethod
    def _every(cls, value: str) -> str:
        span_seconds(value)
        return value

    @field_validator("traits")
    @classmethod
    def _trait_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"trait {name!r}: use a plain trait name (letters, digits, _)")
        return value


class ClusteringConfig(_Strict):
    """Clusters (docs/clustering.md): ``segmint serve`` assigns new profiles every ``assign_every``."""

    assign_every: str | None = None  # e.g. 60s; null: only `segmint cluster` assigns
    model: str = "clusters"  # the registered model that assigns

    @field_validator("assign_every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None and span_seconds(value) <= 0:
            raise ValueError("must be longer than 0 (e.g. 60s)")
        return value

    @property
    def assign_every_s(self) -> int | None:
        return span_seconds(self.assign_every) if self.assign_every is not None else None


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
    rfm: RfmConfig = RfmConfig()
    models: ModelsConfig | None = None  # set: `segmint serve` retrains and scores on schedule
    clustering: ClusteringConfig = ClusteringConfig()
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
