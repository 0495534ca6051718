"""``segmint segments``: check, evaluate, list, explain and preview segments."""

from __future__ import annotations

from pathlib import Path

import typer

from segmint.cli.common import ConfigOption, DbOption, FormatOption, settings
from segmint.cli.output import OutputFormat, console, print_json, table
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
