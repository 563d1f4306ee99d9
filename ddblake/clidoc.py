"""Generate the CLI reference (docs/cli.md) from the commands' own --help.

``python -m ddblake.clidoc > docs/cli.md``; a test fails when the file is stale.
"""

from __future__ import annotations

import click

from ddblake.cli import cli, load_all_commands

HEADER = """# ddblake command reference

Generated from `--help` by `python -m ddblake.clidoc > docs/cli.md`; do not edit by hand
(`tests/test_docs.py` fails when this file is stale).
"""


def _help(command: click.Command, name: str) -> str:
    # The same help option names as the real CLI: click caches a command's help option on
    # first use, so a context without them would render differently after a command has run.
    with click.Context(command, info_name=name, terminal_width=100, max_content_width=100,
                       help_option_names=["-h", "--help"]) as ctx:
        return command.get_help(ctx)


def command_names() -> list[str]:
    load_all_commands()
    return sorted(cli.commands)


def render() -> str:
    load_all_commands()
    parts = [HEADER, "## ddblake\n", "```text", _help(cli, "ddblake"), "```\n"]
    for name in command_names():
        parts += [f"## ddblake {name}\n", "```text", _help(cli.commands[name], f"ddblake {name}"),
                  "```\n"]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
