"""The ``segmint`` command: wires the command groups together.

Each command group lives in its own module and exposes a Typer app (or a
function registered here); this module only assembles them and turns
``SegmintError`` into a clean message and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from segmint import __version__
from segmint.cli.output import err_console
from segmint.errors import SegmintError

app = typer.Typer(
    name="segmint",
    help="Customer segmentation engine: collect events, resolve profiles, segment them, learn from them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from segmint.compiled import summary
        from segmint.segments.realtime import arenas

        typer.echo(f"segmint {__version__}")
        typer.echo(summary())
        typer.echo(arenas.summary())
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """segmint: collect, resolve, segment, learn."""


def _register(argv: list[str] | None = None) -> None:
    # Imported here so that a broken optional group names itself clearly
    # instead of breaking `segmint --help` for every other command.
    from segmint.cli import commands

    commands.register(app, argv)


def main() -> None:
    _register(sys.argv)
    try:
        # In non-standalone mode click returns the code of a typer.Exit
        # instead of raising it.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except SegmintError as error:
        err_console.print(f"[bold red]error:[/bold red] {error}", highlight=False)
        sys.exit(2)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except Exception as error:
        # Usage errors (bad option, missing argument) arrive here in
        # non-standalone mode; typer's own classes and click's both carry
        # show() and exit_code.
        if hasattr(error, "show") and hasattr(error, "exit_code"):
            error.show()
            sys.exit(error.exit_code)
        raise


if __name__ == "__main__":
    main()
