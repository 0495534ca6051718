"""The model registry: fitted models kept in the store, by name and version.

Every fitted model (a clustering, a churn classifier, a CLV model) is saved
with what it takes to trust and reuse it: its training window, features,
metrics, parameters and the fitted object itself. Saving a model under a
name gives it the next version and makes it the *active* one; the version
it replaces is *retired* (kept, so ``models show`` can compare). A drift
check may mark the active version *stale*, which asks for retraining.

The artifact is the fitted object pickled (with joblib, which handles
NumPy arrays well). Only load artifacts from stores you trust, as with any
pickle. Artifacts travel as base64 text in SQL parameters so that the same
calls work on a local store and through a running server.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import joblib
import orjson

from segmint.errors import SegmintError

ACTIVE, STALE, RETIRED = "active", "stale", "retired"
_COLUMNS = "name, version, kind, trained_at, window_start, window_end, features, metrics, params, status"


class ModelNotFoundError(SegmintError):
    """No model with that name (and version) is in the registry."""


@dataclass(frozen=True)
class ModelRecord:
    name: str
    version: int
    kind: str
    trained_at: datetime
    window_start: datetime | None
    window_end: datetime | None
    features: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    status: str = ACTIVE

    def as_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "trained_at": iso(self.trained_at),
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "features": self.features,
            "metrics": self.metrics,
            "params": self.params,
            "status": self.status,
        }


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode()


def _record(row: dict[str, Any]) -> ModelRecord:
    def parsed(value: Any) -> Any:
        return orjson.loads(value) if isinstance(value, (str, bytes)) else value

    return ModelRecord(
        name=row["name"],
        version=int(row["version"]),
        kind=row["kind"],
        trained_at=row["trained_at"],
        window_start=row["window_start"],
        window_end=row["window_end"],
        features=list(parsed(row["features"])),
        metrics=dict(parsed(row["metrics"])),
        params=dict(parsed(row["params"])),
        status=row["status"],
    )


def save_model(
    store: Any,
    name: str,
    kind: str,
    artifact: Any,
    *,
    features: list[str],
    metrics: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    window: tuple[datetime | None, datetime | None] = (None, None),
    trained_at: datetime | None = None,
) -> ModelRecord:
    """Register ``artifact`` as the next version of ``name`` and make it active."""
    buffer = io.BytesIO()
    joblib.dump(artifact, buffer, compress=3)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    rows = store.query("SELECT coalesce(max(version), 0) AS v FROM models WHERE name = ?", [name]).to_pylist()
    version = int(rows[0]["v"]) + 1
    record = ModelRecord(
        name=name,
        version=version,
        kind=kind,
        trained_at=trained_at or datetime.now(timezone.utc),
        window_start=window[0],
        window_end=window[1],
        features=list(features),
        metrics=dict(metrics or {}),
        params=dict(params or {}),
    )
    store.execute("UPDATE models SET status = ? WHERE name = ? AND status <> ?", [RETIRED, name, RETIRED])
    store.execute(
        f"INSERT INTO models ({_COLUMNS}, artifact) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, from_base64(?))",
        [
            name,
            version,
            kind,
            record.trained_at,
            record.window_start,
            record.window_end,
            _dumps(record.features),
            _dumps(record.metrics),
            _dumps(record.params),
            ACTIVE,
            encoded,
        ],
    )
    return record


def list_models(store: Any, name: str | None = None) -> list[ModelRecord]:
    """Every registered version (of ``name``, or of all models), newest first."""
    where, params = ("WHERE name = ?", [name]) if name else ("", None)
    table = store.query(f"SELECT {_COLUMNS} FROM models {where} ORDER BY name, version DESC", params)
    return [_record(row) for row in table.to_pylist()]


def find_model(store: Any, name: str, version: int | None = None) -> ModelRecord:
    """The given version of ``name``, or its newest version that is not retired."""
    candidates = list_models(store, name)
    if version is not None:
        candidates = [r for r in candidates if r.version == version]
    else:
        candidates = [r for r in candidates if r.status != RETIRED] or candidates
    if not candidates:
        known = sorted({r.name for r in list_models(store)})
        hint = f"; registered models: {', '.join(known)}" if known else "; none is registered yet"
        wanted = f"{name} version {version}" if version is not None else name
        raise ModelNotFoundError(f"no model {wanted} in the registry{hint}")
    return candidates[0]


def load_model(store: Any, name: str, version: int | None = None) -> tuple[ModelRecord, Any]:
    """A registered model's record and its fitted object."""
    record = find_model(store, name, version)
    table = store.query(
        "SELECT to_base64(artifact) AS blob FROM models WHERE name = ? AND version = ?", [name, record.version]
    )
    blob = base64.b64decode(table.column("blob")[0].as_py())
    return record, joblib.load(io.BytesIO(blob))


def set_status(store: Any, name: str, version: int, status: str) -> None:
    if status not in (ACTIVE, STALE, RETIRED):
        raise ValueError(f"status must be one of {ACTIVE}, {STALE}, {RETIRED}, not {status!r}")
    store.execute("UPDATE models SET status = ? WHERE name = ? AND version = ?", [status, name, version])
