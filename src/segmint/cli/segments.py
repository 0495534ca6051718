"""``segmint segments``: check, evaluate, list, explain and preview segments."""

from __future__ import annotations

from pathlib import Path

import typer

from segmint.cli.common import ConfigOption, DbOption, FormatOption, settings
from segmint.cli.output import OutputFormat, console, err_console, print_json, table
from segmint.segments.parse import load_segments

app = typer.Typer(help="Segments: check definitions, evaluate them, see who is in them and why.", no_args_is_help=True)


@app.command()
def check(config: Path = ConfigOption, format: OutputFormat = FormatOption) -> None:
    """Validate the segment definitions without touching the store (exit 1 on errors)."""
    s = settings(config, None)
    loaded = load_segments(s.config.segments)
    if format is OutputFormat.json:
        print_json(
            {
                "valid": list(loaded.definitions),
                "errors": [{"segment": e.segment, "key": e.key, "message": e.message} for e in loaded.errors],
            }
        )
    else:
        rows = [(name, "ok", d.description or "") for name, d in loaded.definitions.items()]
        rows += [(e.segment, "[red]error[/red]", f"{e.key}: {e.message}") for e in loaded.errors]
        console.print(table(f"Segments in {s.config.source_file}", ["segment", "status", "detail"], rows))
    if loaded.errors:
        raise typer.Exit(1)


@app.command()
def evaluate(
    as_of: str = typer.Option(None, "--as-of", help="ISO-8601 instant (default: now)."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Evaluate every segment over the stored events at --as-of (batch, SQL)."""
    from segmint.clock import SystemClock, parse_instant
    from segmint.segments.evaluation import evaluate_store
    from segmint.store.access import open_reader

    s = settings(config, db)
    instant = parse_instant(as_of) if as_of else SystemClock().now()
    loaded = load_segments(s.config.segments)
    for error in loaded.errors:
        err_console.print(f"[yellow]not evaluated:[/yellow] {error}")
    store = open_reader(s.db_path)
    try:
        memberships = evaluate_store(store, loaded, s.config.identity, instant)
    finally:
        store.close()
    if format is OutputFormat.json:
        print_json(memberships)
        return
    console.print(table(f"Segments at {instant.isoformat()}", ["segment", "members", "description"],
                        [(n, len(m), loaded.definitions[n].description or "") for n, m in memberships.items()]))
