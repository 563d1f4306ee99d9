"""The ``ddblake`` command line: a thin translator from flags to library calls.

Each command lives in a module of ``ddblake/commands/`` and registers itself on :data:`cli`.
Modules are imported only when one of their commands runs (or for ``--help``), so that
``ddblake export`` does not pay for DuckDB and pandas, and worker processes, which re-import
the ``ddblake`` script, start fast. Library errors (:class:`DdbLakeError`) become a message
on stderr, with its hint, and the error's exit code.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from ddblake import __version__
from schemas.errors import DdbLakeError

# Command name -> the module of ddblake.commands that defines it (a test checks the table).
COMMANDS = {
    "export": "export", "snapshots": "export", "show": "export", "gc": "export",
    "import-export": "native", "stream": "stream", "coverage": "coverage",
    "query": "query", "shell": "query", "audit": "query", "restore": "restore",
    "verify": "care", "prune": "care", "archive": "care", "lifecycle": "care",
    "thaw": "care", "copy": "care", "drill": "care", "demo": "demo",
    "iceberg": "iceberg",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"ddblake.commands.{COMMANDS[cmd_name]}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ddblake")
def cli() -> None:
    """Back up DynamoDB tables into a Parquet data lake, query any past state with SQL,
    and restore whole tables, any second, or chosen rows.

    A lake is a local folder or s3://bucket/prefix. AWS settings come from the usual
    places (profiles, AWS_* variables, AWS_ENDPOINT_URL_DYNAMODB / _S3).
    """


def load_all_commands() -> None:
    """Import every module of ``ddblake.commands``; each registers its commands on ``cli``."""
    import ddblake.commands as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"ddblake.commands.{module.name}")


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="ddblake", standalone_mode=False)
    except DdbLakeError as e:
        click.secho(f"error: {e.message}", fg="red", err=True)
        if e.hint:
            click.echo(f"hint: {e.hint}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted; state is saved, re-run with --resume to continue", err=True)
        sys.exit(130)
