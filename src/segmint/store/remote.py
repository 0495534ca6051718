"""A store reached through the running server that holds it.

Implements the same ``query`` as a local store, plus ``ingest`` for
commands that write (import, failed-message replay), so commands work the
same whether or not ``segmint serve`` is running.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
import orjson
import pyarrow as pa

from segmint.errors import StoreError
from segmint.ingest.ingestor import Failure, IngestResult
from segmint.store.discovery import ServerInfo


class RemoteStore:
    def __init__(self, info: ServerInfo, timeout: float = 600.0) -> None:
        self.info = info
        self._client = httpx.Client(
            base_url=info.url, headers={"Authorization": f"Bearer {info.token}"}, timeout=timeout
        )

    def _post(self, path: str, content: bytes) -> httpx.Response:
        try:
            response = self._client.post(path, content=content)
        except httpx.HTTPError as error:
            raise StoreError(f"the server at {self.info.url} holds the store but does not answer: {error}") from None
        if response.status_code != 200:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise StoreError(f"the server at {self.info.url} refused: {message}")
        return response

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        body = orjson.dumps({"sql": sql, "params": list(params) if params else None}, default=str)
        response = self._post("/internal/query", body)
        return pa.ipc.open_stream(response.content).read_all()

    def ingest(self, staged: pa.Table, *, store_failures: bool = True) -> IngestResult:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, staged.schema) as writer:
            writer.write_table(staged)
        path = "/internal/ingest" + ("" if store_failures else "?store_failures=false")
        data = self._post(path, sink.getvalue().to_pybytes()).json()
        return IngestResult(
            received=data["received"],
            accepted=data["accepted"],
            duplicates=data["duplicates"],
            failures=[Failure(int(o), str(r)) for o, r in data["failures"]],
        )

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self._post("/internal/execute", orjson.dumps({"sql": sql, "params": list(params) if params else None}, default=str))

    def evaluate_segments(
        self, as_of: datetime, segments: dict[str, Any], identity: dict[str, Any], traits: dict[str, Any] | None = None
    ) -> dict[str, list[str]]:
        """Batch evaluation of these definitions (and the computed traits they read), run by the server."""
        body = orjson.dumps({"as_of": as_of.isoformat(), "segments": segments, "identity": identity, "traits": traits or {}})
        return self._post("/internal/segments/evaluate", body).json()

    def rebuild_profiles(self) -> None:
        self._post("/internal/rebuild", b"")

    def close(self) -> None:
        self._client.close()
