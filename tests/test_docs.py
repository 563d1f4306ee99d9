"""The docs tell the truth about the commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from ddblake.cli import COMMANDS, cli, load_all_commands
from ddblake.clidoc import command_names, render

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current() -> None:
    assert (ROOT / "docs" / "cli.md").read_text() == render(), (
        "docs/cli.md is stale: run `.venv/bin/python -m ddblake.clidoc > docs/cli.md`")


@pytest.mark.parametrize("name", command_names())
def test_every_command_has_help_and_a_readme_mention(name: str) -> None:
    command = cli.commands[name]
    assert command.help and len(command.help.strip()) > 20, f"{name} needs help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"ddblake {name} {param.opts[0]} needs help text"
    assert f"ddblake {name}" in (ROOT / "README.md").read_text(), (
        f"README.md does not mention `ddblake {name}`")


def test_the_lazy_command_table_names_every_command_and_its_module() -> None:
    load_all_commands()
    defined = {name: command.callback.__module__ for name, command in cli.commands.items()
               if command.callback is not None}
    assert defined == {name: f"ddblake.commands.{module}" for name, module in COMMANDS.items()}


def test_starting_the_cli_imports_no_command_module() -> None:
    # Worker processes re-import the ddblake script; it must stay cheap.
    code = ("import sys, ddblake.cli; "
            "print(sorted(m for m in sys.modules if m.startswith('ddblake.commands.') "
            "or m in ('duckdb', 'pandas', 'pyarrow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
