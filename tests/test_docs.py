"""The docs tell the truth about the commands."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from ddblake.cli import cli
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
