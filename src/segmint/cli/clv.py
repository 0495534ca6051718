"""``segmint clv``: customer lifetime value (BG/NBD + Gamma-Gamma)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Customer lifetime value: BG/NBD and Gamma-Gamma models.", no_args_is_help=True)


@app.command()
def fit() -> None:
    """Fit BG/NBD and Gamma-Gamma on a transactions table (being built)."""
    raise typer.Exit(1)
