"""The list of command groups; adding a group is one line here."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    from segmint.cli import clv

    app.add_typer(clv.app, name="clv")
