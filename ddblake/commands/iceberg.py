"""``ddblake iceberg``: publish the lake as Iceberg tables, list them, register them in Glue."""

from __future__ import annotations

import click

from ddblake.cli import cli
from ddblake.options import (
    dry_run_option,
    lake_option,
    profile_option,
    quiet_option,
    region_option,
    table_option,
)
from ddblake.output import output_options, render_to

COLUMNS = ("table", "kind", "action", "snapshots", "current", "metadata_location")
GLUE_COLUMNS = ("database", "name", "table", "kind", "action", "metadata_location")


@cli.command("iceberg")
@lake_option
@table_option
@click.option("--rebuild", is_flag=True,
              help="Rewrite the Iceberg metadata from ddblake's manifests (the commit of "
                   "record) instead of appending what is new.")
@click.option("--register-glue", "glue_database", default=None, metavar="DATABASE",
              help="Also create or update the tables in this AWS Glue database (created if "
                   "missing), for Athena, EMR and Glue jobs. Needs an s3:// lake.")
@dry_run_option
@quiet_option
@output_options()
@profile_option
@region_option
def iceberg_command(lake: str, table: str | None, rebuild: bool, glue_database: str | None,
                    dry_run: bool, quiet: bool, fmt: str, output: str | None,
                    profile: str | None, region: str | None) -> None:
    """Publish every table of the lake (or --table) as two Apache Iceberg tables and list
    them with their metadata_location: <table>/iceberg/items (one Iceberg snapshot per
    ddblake snapshot; the current one is the latest) and <table>/iceberg/changes (the
    change log). Parts are registered, not copied; metadata lives beside the table, so an
    engine (Athena, Spark, Trino, DuckDB, pyiceberg) needs only the metadata location.

    Publishing is incremental and idempotent; ddblake's manifests stay the commit of
    record (see docs/iceberg.md for the SQL of "the table as of any second").
    """
    from lake.aws import make_client, make_session
    from lake.fileio import load_file_io
    from lake.iceberg import publish

    session = make_session(profile, region)
    io = load_file_io(lake, session=session)
    published = publish(io, table, rebuild=rebuild, dry_run=dry_run)
    if glue_database and not dry_run:
        from lake.iceberg.glue import register_glue

        registered = register_glue(make_client("glue", session), io, glue_database,
                                   published)
        if not quiet:
            click.echo(f"Glue: {len(registered)} tables in {glue_database} "
                       f"({', '.join(f'{r.name} {r.action}' for r in registered)})", err=True)
    render_to([p.to_dict() for p in published], fmt, output, columns=COLUMNS)
    for note in (n for p in published for n in p.notes):
        click.echo(f"note: {note}", err=True)  # shown even with --quiet: something is left out
    if dry_run and not quiet:
        click.echo("dry run: nothing was written", err=True)
