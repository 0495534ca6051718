"""``segmint import``: load Segment JSONL, CSV and Parquet files into the store."""

from __future__ import annotations

from pathlib import Path

import typer

from segmint.cli.common import ConfigOption, DbOption, FormatOption, settings
from segmint.cli.output import OutputFormat, console, print_json, progress, table
from segmint.identity.profiles import refresh
from segmint.ingest.files import FilePlan
from segmint.ingest.importer import FileReport, import_files, plan_imports
from segmint.ingest.ingestor import Ingestor
from segmint.store.access import writing
from segmint.store.remote import RemoteStore


def import_command(
    files: list[Path] = typer.Argument(..., help="Files to import: .jsonl/.ndjson/.json, .csv, .parquet."),
    source: str = typer.Option("import", "--source", help="Source name; duplicates are detected per source."),
    mapping: str = typer.Option(None, "--mapping", "-m", help="Import mapping for CSV/Parquet (default: by `match`)."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Import messages from files. Importing the same file twice changes nothing."""
    s = settings(config, db)
    plans = plan_imports(files, s.config, mapping)
    with writing(s.db_path) as store:
        writer = store if isinstance(store, RemoteStore) else Ingestor(store)
        with progress(enabled=format is OutputFormat.table) as bar:
            tasks = {plan.path: bar.add_task(plan.path.name, total=plan.size) for plan in plans}

            def advance(plan: FilePlan, done: int) -> None:
                bar.advance(tasks[plan.path], done)

            reports = import_files(plans, writer, source=source, on_progress=advance)
        refresh(store, s.config.identity)
    _show(reports, format)


def _show(reports: list[FileReport], format: OutputFormat) -> None:
    if format is OutputFormat.json:
        print_json({"files": [r.as_dict() for r in reports]})
        return
    console.print(
        table(
            "Imported",
            ["file", "kind", "mapping", "received", "accepted", "duplicates", "failed"],
            [
                (r.path.name, r.kind, r.mapping, r.received, r.accepted, r.duplicates, r.failed)
                for r in reports
            ],
        )
    )
    reasons = sum((r.reasons for r in reports), start=type(reports[0].reasons)()) if reports else {}
    if reasons:
        console.print(
            table("Failed messages (see `segmint failed list`)", ["reason", "count"], reasons.most_common())
        )
