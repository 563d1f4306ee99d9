"""Flags shared by commands: one word per concept everywhere."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

lake_option = click.option(
    "--lake", required=True, envvar="DDBLAKE_LAKE", show_envvar=True,
    help="The lake: a local folder or s3://bucket/prefix.")


def _table_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A --table that is not a DynamoDB table name is a usage error (exit 2)."""
    from lake.layout import check_table_name

    return check_table_name(value) if value is not None else None


table_option = click.option("--table", "table", default=None, callback=_table_name,
                            help="The table (may be left out when the lake holds one).")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
dry_run_option = click.option("--dry-run", is_flag=True,
                              help="Show what would happen; change nothing.")
profile_option = click.option("--profile", default=None, envvar="AWS_PROFILE",
                              help="AWS profile to use (default: the standard chain).")
region_option = click.option("--region", default=None, help="AWS region (default: AWS_REGION).")
engine_option = click.option(
    "--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
    help="Where the units of work run: local worker processes, or a Ray cluster (RAY_ADDRESS, "
         "else the one `ray start` made on this machine, else a local Ray for this run; "
         "needs pip install 'ddblake[ray]'). See docs/cluster.md.")


def engine_output(engine: str) -> contextlib.AbstractContextManager[Any]:
    """While a Ray run is going on, what anything prints to stdout goes to stderr: Ray's
    driver prints cluster messages to stdout, which carries a command's JSON summary."""
    if engine != "ray":
        return contextlib.nullcontext()
    return contextlib.redirect_stdout(sys.stderr)
