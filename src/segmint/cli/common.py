"""Options every command shares, and loading what they point at."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from segmint.cli.output import OutputFormat
from segmint.config import Config, load_config

ConfigOption = typer.Option(None, "--config", "-c", help="Configuration file (default: ./segmint.yaml).")
DbOption = typer.Option(None, "--db", help="The store, a DuckDB file (default: ./segmint.duckdb).")
FormatOption = typer.Option(OutputFormat.table, "--format", "-f", help="table for people, json for programs.")


@dataclass(frozen=True)
class Settings:
    config: Config
    db_path: Path


def settings(config_path: Path | None, db_path: Path | None) -> Settings:
    config = load_config(config_path)
    return Settings(config, db_path or Path(config.store.path))
