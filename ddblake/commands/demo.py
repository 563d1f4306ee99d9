"""``ddblake demo``: the whole story on an embedded DynamoDB + S3."""

from __future__ import annotations

import click

from ddblake.cli import cli


@cli.command("demo")
@click.option("--lake", default="./demo-lake", show_default=True,
              help="Where the demo's lake goes: a new local folder, or s3://bucket/prefix "
                   "on the embedded S3.")
@click.option("--users", "count", type=click.IntRange(100, 1_000_000), default=10_000,
              show_default=True, help="How many user profiles the demo table holds.")
@click.option("--keep-running", is_flag=True,
              help="Keep the embedded AWS up afterwards and print the variables that point "
                   "other commands at it.")
def demo_command(lake: str, count: int, keep_running: bool) -> None:
    """Run the product's story on an embedded AWS (moto on 127.0.0.1, no account needed).

    Creates a users table, backs it up, queries the backup, runs an accidental cleanup
    script, finds the damage with SQL, restores exactly the deleted users, and checks the
    result: the command fails if the table does not end equal to the backup.
    """
    from ddblake.demo import main

    main(lake, count, keep_running, say=click.echo)
