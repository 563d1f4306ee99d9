"""The ``ddblake`` command line: a thin translator from flags to library calls.

Each command lives in ``ddblake/commands/<name>.py`` and registers itself on :data:`cli`.
Library errors (:class:`DdbLakeError`) become a message on stderr, with its hint, and the
error's exit code.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from ddblake import __version__
from schemas.errors import DdbLakeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ddblake")
def cli() -> None:
    """Back up DynamoDB tables into a Parquet data lake, query any past state with SQL,
    and restore whole tables, any second, or chosen rows.

    A lake is a local folder or s3://bucket/prefix. AWS settings come from the usual
    places (profiles, AWS_* variables, AWS_ENDPOINT_URL_DYNAMODB / _S3).
    """


def _load_commands() -> None:
    """Import every module of ``ddblake.commands``; each registers its commands on ``cli``."""
    import ddblake.commands as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"ddblake.commands.{module.name}")


def main(argv: list[str] | None = None) -> None:
    _load_commands()
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


_load_commands()
