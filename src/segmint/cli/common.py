"""Options every command shares, and loading what they point at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import typer

from segmint.cli.output import OutputFormat
from segmint.config import Config, load_config

ConfigOption = typer.Option(None, "--config", "-c", help="Configuration file (default: ./segmint.yaml).")
DbOption = typer.Option(None, "--db", help="The store, a DuckDB file (default: ./segmint.duckdb).")
FormatOption = typer.Option(OutputFormat.table, "--format", "-f", help="table for people, json for programs.")
AsOfOption = typer.Option(None, "--as-of", help="ISO-8601 instant (default: now).")


def as_of_instant(as_of: str | None) -> datetime:
    """The ``--as-of`` instant, or now; a malformed one is a usage error naming the option."""
    from segmint.clock import SystemClock, parse_instant

    if not as_of:
        return SystemClock().now()
    try:
        return parse_instant(as_of)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--as-of") from None


@dataclass(frozen=True)
class Settings:
    config: Config
    db_path: Path


def settings(config_path: Path | None, db_path: Path | None) -> Settings:
    config = load_config(config_path)
    return Settings(config, db_path or Path(config.store.path))
