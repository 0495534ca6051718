"""``segmint replay``: run files through the real-time evaluator."""

from __future__ import annotations

from pathlib import Path

import typer

from segmint.cli.common import ConfigOption, DbOption, FormatOption, as_of_instant, settings
from segmint.cli.output import OutputFormat, console, err_console, print_json, table
from segmint.ingest.importer import plan_imports
from segmint.ingest.stream import judged_rows
from segmint.segments.parse import load_segments
from segmint.segments.replay import replay


def replay_command(
    files: list[Path] = typer.Argument(..., help="Message files (JSONL; CSV/Parquet through mappings)."),
    as_of: str = typer.Option(..., "--as-of", help="Evaluate at this ISO-8601 instant."),
    source: str = typer.Option("import", "--source", help="Source name, for retry deduplication."),
    changes: bool = typer.Option(False, "--changes", help="Also list every entry and exit (table format)."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Feed messages in file order through the real-time evaluator and print the members at --as-of."""
    s = settings(config, db)
    instant = as_of_instant(as_of)
    loaded = load_segments(s.config.segments, s.config.traits)
    for error in loaded.errors:
        err_console.print(f"[yellow]skipped:[/yellow] {error}")
    plans = plan_imports(files, s.config)
    result = replay(judged_rows(plans, source=source), loaded, s.config.identity, instant)
    if format is OutputFormat.json:
        print_json(result.memberships)
        return
    console.print(
        table(f"Segments at {instant.isoformat()} (real time, {result.fed:,} messages fed)", ["segment", "members"],
              [(name, len(members)) for name, members in result.memberships.items()])
    )
    if changes:
        console.print(table("Entries and exits", ["at", "segment", "profile", "change"],
                            [(c.at, c.segment, c.profile_id, "enter" if c.entered else "exit") for c in result.changes]))
