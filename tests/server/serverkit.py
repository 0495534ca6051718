"""A real ``segmint serve`` subprocess on loopback, for end-to-end tests.

:class:`SegmintServer` writes a ``segmint.yaml`` into its own directory,
starts ``python -m segmint.cli.main serve --port 0``, waits for the
discovery file (``<db>.server.json``) of *this* process and for ``/health``
to answer; :meth:`SegmintServer.stop` sends SIGINT (a clean stop) and
SIGKILL if the server has not gone within a bounded time. Every wait is bounded, so a hung
server fails a test instead of hanging the suite.

Nothing here is mocked: tests talk to the server over HTTP and run the
``segmint`` command line against the same store, as an operator would.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa

WEB_KEY = "wk_web_4f1c"
APP_KEY = "wk_app_9b2e"
SECRET_KEY = "sk_read_77aa"

START_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 20.0
CLI_TIMEOUT_S = 90.0

CONFIG_YAML = f"""\
sources:
  - name: web
    write_key: {WEB_KEY}
  - name: app
    write_key: {APP_KEY}
secret_key: {SECRET_KEY}
identity:
  identifiers:
    email:
      paths: [traits.email, context.traits.email]
      normalize: [trim, lowercase]
"""


def _clean_env() -> dict[str, str]:
    # The keys must come from the test's configuration only.
    env = {k: v for k, v in os.environ.items() if k not in ("SEGMINT_WRITE_KEY", "SEGMINT_SECRET_KEY")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def unique(prefix: str = "") -> str:
    """A fresh id, so tests sharing one server never see each other's data."""
    return f"{prefix}{uuid.uuid4().hex[:12]}"


class SegmintServer:
    """One ``segmint serve`` process over a store in ``workdir``."""

    def __init__(self, workdir: Path, *, config_text: str = CONFIG_YAML) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "segmint.yaml"
        self.config_path.write_text(config_text)
        self.db_path = workdir / "store.duckdb"
        self.info_path = workdir / "store.duckdb.server.json"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.admin_token = ""
        self._log_handle: Any = None
        self._starts = 0

    # ---- lifecycle ------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.workdir / f"serve-{self._starts}.log"

    def start(self, timeout: float = START_TIMEOUT_S) -> "SegmintServer":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._starts += 1
        self._log_handle = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "segmint.cli.main", "serve", "--config", str(self.config_path),
             "--db", str(self.db_path), "--host", "127.0.0.1", "--port", "0"],
            cwd=self.workdir,
            env=_clean_env(),
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal must not reach it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"segmint serve exited with {self.proc.returncode}:\n{self.log()}")
            info = self._read_info()
            # A server killed earlier leaves its file behind: wait for ours.
            if info is not None and info.get("pid") == self.proc.pid:
                self.url, self.admin_token = info["url"], info["token"]
                if self._healthy():
                    return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"segmint serve was not ready within {timeout:.0f} s:\n{self.log()}")

    def _read_info(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.info_path.read_bytes())
        except (OSError, ValueError):
            return None

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url + "/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, sig: int = signal.SIGINT, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Ask the server to stop; SIGKILL it if it has not within ``timeout``."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_log()
        return self.proc.returncode

    def stop_cleanly(self) -> None:
        """Stop with Ctrl-C (SIGINT) and check the server ran its shutdown."""
        returncode = self.stop(signal.SIGINT)
        # 0 or 130 (the usual status after a Ctrl-C, depending on when the
        # signal lands); what matters is that the shutdown ran, and the
        # shutdown removes the discovery file.
        assert returncode in (0, 130), f"segmint serve exited with {returncode} on SIGINT:\n{self.log()}"
        assert not self.info_path.exists(), "the server did not run its shutdown"

    def kill(self) -> None:
        """SIGKILL: the crash that nothing can clean up after."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # ---- HTTP -----------------------------------------------------------------

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30.0), **kwargs)

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        key: str | None = WEB_KEY,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        gzipped: bool = False,
    ) -> httpx.Response:
        """POST to the collector; ``key`` goes as the basic-auth user (empty password)."""
        data = content if content is not None else orjson.dumps(body)
        sent_headers = {"Content-Type": "application/json", **(headers or {})}
        if gzipped:
            data = gzip.compress(data)
            sent_headers["Content-Encoding"] = "gzip"
        auth = (key, "") if key is not None else None
        return httpx.post(self.url + path, content=data, headers=sent_headers, auth=auth, timeout=30.0)

    def read(self, path: str, *, secret: str | None = SECRET_KEY, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
        return httpx.get(self.url + path, headers=headers, params=params or None, timeout=30.0)

    def profile(self, any_id: str) -> dict[str, Any]:
        response = self.read(f"/v1/profiles/{any_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def failed_messages(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Every record in the failed-messages store, following ``next``."""
        out: list[dict[str, Any]] = []
        path: str | None = f"/v1/failed-messages?limit={limit}"
        for _ in range(10_000):
            if path is None:
                return out
            response = httpx.get(self.url + path, headers={"Authorization": f"Bearer {SECRET_KEY}"}, timeout=30.0)
            assert response.status_code == 200, response.text
            page = response.json()
            out.extend(page["failed_messages"])
            path = page["next"]
        raise AssertionError("failed-messages paging never ended")

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Read the store through the server, the way ``segmint`` commands do while it runs."""
        response = httpx.post(
            self.url + "/internal/query",
            content=orjson.dumps({"sql": sql, "params": list(params) if params else None}),
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=30.0,
        )
        assert response.status_code == 200, response.text
        return pa.ipc.open_stream(response.content).read_all().to_pylist()

    def count(self, sql_where: str = "TRUE", params: Sequence[Any] | None = None, table: str = "events") -> int:
        return int(self.query(f"SELECT count(*) AS n FROM {table} WHERE {sql_where}", params)[0]["n"])

    # ---- the command line -----------------------------------------------------

    def cli(self, *args: str, check: bool = True, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run ``segmint ARGS --config ... --db ...`` against this server's store."""
        result = subprocess.run(
            [sys.executable, "-m", "segmint.cli.main", *args,
             "--config", str(self.config_path), "--db", str(self.db_path)],
            cwd=self.workdir,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert result.returncode == 0, f"segmint {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def cli_json(self, *args: str) -> Any:
        result = self.cli(*args, "--format", "json")
        return json.loads(result.stdout)

    def status(self) -> dict[str, Any]:
        return self.cli_json("status")


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; that value, or an assertion error."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last value: {last!r})")
