"""How commands print: a Rich table for people, JSON for programs.

Every command that prints results takes ``--format table|json``; it builds
its result as plain data and hands it here, so both renderings always show
the same thing.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterator

import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"


console = Console()
err_console = Console(stderr=True)


def _default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def print_json(data: Any) -> None:
    """Print one JSON document on stdout (no colour, no wrapping)."""
    sys.stdout.write(
        orjson.dumps(data, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
        + "\n"
    )
    sys.stdout.flush()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*(_cell(value) for value in row))
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "[dim]-[/dim]"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, default=_default).decode()
    return str(value)


@contextmanager
def progress(enabled: bool = True) -> Iterator[Progress]:
    """A Rich progress bar on stderr, so stdout stays clean for JSON."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not enabled,
        transient=False,
    )
    with bar:
        yield bar
