"""``segmint failed``: list, export and replay messages that failed validation."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer

from segmint.cli.common import ConfigOption, DbOption, FormatOption, settings
from segmint.cli.output import OutputFormat, console, print_json, table
from segmint.clock import SystemClock
from segmint.identity.profiles import refresh
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.replay import read_fixes, replay, select_failed
from segmint.store.access import reading, writing
from segmint.store.remote import RemoteStore
from segmint.store.store import Store

app = typer.Typer(help="Messages that failed validation, kept with their reasons.", no_args_is_help=True)


@app.command("list")
def list_failed(
    all: bool = typer.Option(False, "--all", help="Include messages already replayed."),
    limit: int = typer.Option(50, "--limit", "-n"),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """List failed messages with their reasons, oldest first."""
    s = settings(config, db)
    with reading(s.db_path) as store:
        where = "" if all else "WHERE status = 'failed'"
        rows = store.query(
            f"SELECT id, source, received_at, origin, reason, status, raw FROM failed_messages {where} "
            "ORDER BY id LIMIT ?",
            [limit],
        ).to_pylist()
        counts = store.query(
            f"SELECT reason, count(*) AS n FROM failed_messages {where} GROUP BY reason ORDER BY n DESC"
        ).to_pylist()
    if format is OutputFormat.json:
        for row in rows:
            row["message"] = _message(row.pop("raw"))
        print_json({"failed_messages": rows, "by_reason": counts})
        return
    console.print(
        table(
            "Failed messages",
            ["id", "source", "received", "origin", "reason", "message"],
            [(r["id"], r["source"], r["received_at"], r["origin"], r["reason"], _short(r["raw"])) for r in rows],
        )
    )


@app.command()
def export(
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file to write; edit the messages, then replay it."),
    config: Path = ConfigOption,
    db: Path = DbOption,
) -> None:
    """Write the waiting failed messages as `{"id", "reason", "message"}` lines to fix by hand."""
    s = settings(config, db)
    with reading(s.db_path) as store:
        rows = store.query(
            "SELECT id, reason, raw FROM failed_messages WHERE status = 'failed' ORDER BY id"
        ).to_pylist()
    with out.open("wb") as handle:
        for row in rows:
            handle.write(orjson.dumps({"id": row["id"], "reason": row["reason"], "message": _message(row["raw"])}))
            handle.write(b"\n")
    console.print(f"wrote {len(rows):,} failed messages to {out}; fix them, then `segmint failed replay --from {out}`")


@app.command("replay")
def replay_command(
    ids: list[int] = typer.Argument(None, help="Failed message ids (default: all waiting)."),
    from_file: Path = typer.Option(None, "--from", help="Fixed messages, as written by `segmint failed export`."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Replay failed messages through validation; those now valid are stored."""
    s = settings(config, db)
    fixes = read_fixes(from_file.read_bytes()) if from_file else None
    with writing(s.db_path) as store:
        records = select_failed(store, ids or None)
        target = store if isinstance(store, RemoteStore) else _LocalTarget(store)
        report = replay(target, records, SystemClock().now(), fixes)
        if report.replayed:
            refresh(store, s.config.identity)
    if format is OutputFormat.json:
        print_json(report.as_dict())
        return
    console.print(f"replayed {len(report.replayed):,}; still failing {len(report.still_failing):,}")
    if report.still_failing:
        console.print(table("Still failing", ["id", "reason"], report.still_failing))
    if report.unknown:
        console.print(f"[yellow]not waiting (unknown or already replayed): {report.unknown}[/yellow]")


class _LocalTarget:
    """A local store seen as a replay target."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._ingestor = Ingestor(store)

    def query(self, sql, params=None):  # type: ignore[no-untyped-def]
        return self._store.query(sql, params)

    def ingest(self, staged, *, store_failures=True):  # type: ignore[no-untyped-def]
        return self._ingestor.ingest(staged, store_failures=store_failures)

    def execute(self, sql, params=None):  # type: ignore[no-untyped-def]
        self._store.execute(sql, params)

    def close(self) -> None:
        pass


def _message(raw: str) -> object:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _short(raw: str, width: int = 60) -> str:
    return raw if len(raw) <= width else raw[: width - 1] + "…"
