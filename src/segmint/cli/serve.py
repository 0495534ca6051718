"""``segmint serve``: the collector and the read API."""

from __future__ import annotations

from pathlib import Path

import typer

from segmint.cli.common import ConfigOption, DbOption, settings
from segmint.cli.output import err_console


def serve_command(
    config: Path = ConfigOption,
    db: Path = DbOption,
    host: str = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="Port (default 8470; 0 picks a free one)."),
) -> None:
    """Serve the Segment-compatible collector and the read API."""
    from segmint.server.serve import serve

    s = settings(config, db)
    host = host or s.config.server.host
    port = s.config.server.port if port is None else port
    if not s.config.sources:
        err_console.print(
            "[yellow]warning:[/yellow] no sources are configured, so every write will get 401; "
            "add `sources:` to the configuration or set SEGMINT_WRITE_KEY"
        )

    def ready(url: str) -> None:
        err_console.print(f"segmint serving on {url} (store {s.db_path})", highlight=False)

    serve(s.config, s.db_path, host, port, on_ready=ready)
