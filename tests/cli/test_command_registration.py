"""The command line imports only the group it names (start-up time), and every group when it names none."""

from __future__ import annotations

import subprocess
import sys

import typer

from segmint.cli import commands


def registered(argv: list[str]) -> set[str]:
    app = typer.Typer()
    commands.register(app, argv)
    return {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}


def test_a_named_command_registers_alone():
    assert registered(["segmint", "import", "events.jsonl", "--db", "s.duckdb"]) == {"import"}
    assert registered(["segmint", "profiles", "show", "u-1"]) == {"profiles"}


def test_help_or_an_unknown_command_registers_them_all():
    assert registered(["segmint", "--help"]) == set(commands.COMMANDS)
    assert registered(["segmint", "no-such-command"]) == set(commands.COMMANDS)
    assert registered(["segmint"]) == registered([]) == set(commands.COMMANDS)


def test_every_command_imports():
    for name in commands.COMMANDS:
        assert registered(["segmint", name]) == {name}


def test_importing_files_does_not_load_the_other_groups():
    code = (
        "import sys\n"
        "from segmint.cli.main import main\n"
        "sys.argv = ['segmint', 'import', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('segmint.cli.demo', 'segmint.cli.cluster', 'sklearn') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
