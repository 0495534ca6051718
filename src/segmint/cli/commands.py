"""The list of command groups; adding a group is one line here.

A command line names one group, and only that group's module is imported:
importing them all (scikit-learn, the demo, the models...) cost ~0.5 s of
every `segmint import`. Without a known command (``--help``, a typo) all
are registered, so the listing and click's suggestions stay complete.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import typer

# name: (module, attribute, kind); a "command" is a function, a "group" a Typer app.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("segmint.cli.demo", "demo_command", "command"),
    "import": ("segmint.cli.ingest", "import_command", "command"),
    "serve": ("segmint.cli.serve", "serve_command", "command"),
    "replay": ("segmint.cli.replay", "replay_command", "command"),
    "status": ("segmint.cli.status", "status_command", "command"),
    "profiles": ("segmint.cli.profiles", "app", "group"),
    "failed": ("segmint.cli.failed", "app", "group"),
    "segments": ("segmint.cli.segments", "app", "group"),
    "traits": ("segmint.cli.traits", "app", "group"),
    "clv": ("segmint.cli.clv", "app", "group"),
    "models": ("segmint.cli.models", "app", "group"),
    "rfm": ("segmint.cli.rfm", "rfm_command", "command"),
    "quality": ("segmint.cli.quality", "app", "group"),
    "cluster": ("segmint.cli.cluster", "cluster_command", "command"),
}


def register(app: typer.Typer, argv: Sequence[str] | None = None) -> None:
    """Add the command groups to ``app``: the one ``argv`` names, else all of them."""
    named = next((arg for arg in (argv or [])[1:] if not arg.startswith("-")), None)
    for name in [named] if named in COMMANDS else COMMANDS:
        module, attribute, kind = COMMANDS[name]  # type: ignore[index]
        target = getattr(importlib.import_module(module), attribute)
        if kind == "group":
            app.add_typer(target, name=name)
        else:
            app.command(name)(target)
