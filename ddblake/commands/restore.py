"""``ddblake restore``: flags -> RestoreConfig -> restorer.restore -> summary."""

from __future__ import annotations

from typing import Any

import click

from ddblake.cli import cli
from ddblake.options import (
    dry_run_option,
    engine_option,
    engine_output,
    lake_option,
    profile_option,
    quiet_option,
    region_option,
)
from ddblake.output import summary
from ddblake.progress import TerminalProgress
from restorer import RestoreConfig, RestoreResult, restore
from restorer.config import FEATURES, RestoreIncomplete
from schemas.errors import UsageError


def _features(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    return frozenset(v.strip() for v in value.split(",") if v.strip())


def _summary(result: RestoreResult, fmt: str) -> dict[str, Any]:
    value = result.to_dict()
    if result.dry_run:
        for key in ("written", "written_earlier", "skipped_existing", "skipped_expired",
                    "dead_letters", "dead_letter_uri", "units", "units_resumed", "requests",
                    "retry_rounds", "verification", "restore_id", "created_table",
                    "units_per_node"):
            value.pop(key, None)
        value["would_write"] = result.selected
    elif result.verification is not None and fmt != "json":
        v = result.verification
        value["verification"] = (f"{'ok' if v.ok else 'FAILED'}: {v.found_items}/"
                                 f"{v.expected_items} items, digest "
                                 f"{'equal' if v.expected_digest == v.found_digest else 'DIFFERS'}"
                                 f" ({v.method})" + (f", {v.different} kept as they were"
                                                     if v.different else "")
                                 + (f", {v.missing} missing" if v.missing else ""))
    return value


@cli.command(name="restore")
@click.argument("table", required=False)
@lake_option
@click.option("--to", "target", required=True,
              help="The DynamoDB table to write. Created from the snapshot unless --existing.")
@click.option("--snapshot", default="latest", show_default=True,
              help="Snapshot id to restore from, or `latest`.")
@click.option("--as-of", default=None, metavar="TIMESTAMP",
              help="Restore the table as it was at this time (ISO 8601, UTC).")
@click.option("--where", default=None, metavar="SQL",
              help="Only items for which this boolean DuckDB expression is true (columns: the "
                   "snapshot's typed columns, _item, _pk, _sk; no subqueries, table "
                   "functions or settings).")
@click.option("--keys", "keys_file", default=None, type=click.Path(dir_okay=False),
              help="Only these keys: a CSV file with a header naming the key attributes, or "
                   "JSON lines ({\"id\": \"a\"} or {\"id\": {\"S\": \"a\"}}).")
@click.option("--deleted-between", nargs=2, default=None, metavar="T1 T2",
              help="Only items deleted between T1 and T2, as they were before the delete.")
@click.option("--changed-between", nargs=2, default=None, metavar="T1 T2",
              help="Only items changed between T1 and T2, as they were before the change.")
@click.option("--existing", is_flag=True,
              help="Write into an existing table (its key schema is checked first).")
@click.option("--mode", type=click.Choice(["put", "put-if-absent"]), default="put",
              show_default=True,
              help="put overwrites (BatchWriteItem); put-if-absent never overwrites an item "
                   "that exists (conditional PutItem).")
@click.option("--with", "with_", default=None, metavar="LIST",
              help=f"Also copy to a new table: {','.join(sorted(FEATURES))} (comma separated).")
@click.option("--billing-mode", type=click.Choice(["PAY_PER_REQUEST", "PROVISIONED"]),
              default=None, help="Override the snapshot's billing mode for a new table.")
@click.option("--no-indexes", is_flag=True, help="Create the new table without GSIs/LSIs.")
@click.option("--skip-expired", is_flag=True,
              help="Leave out items whose TTL attribute is already in the past.")
@click.option("--max-wcu", type=float, default=None,
              help="Write at most this many write capacity units per second (all workers).")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Worker processes, each writing its own units (default 1); with --engine "
                   "ray, units running at once (default: the cluster's CPUs).")
@engine_option
@click.option("--threads", type=int, default=4, show_default=True,
              help="Requests in flight per worker.")
@click.option("--unit-rows", type=int, default=20_000, show_default=True,
              help="Items per unit of work: the grain of workers and of the resume journal.")
@click.option("--transport", type=click.Choice(["auto", "botocore"]), default="auto",
              show_default=True,
              help="auto: sign requests with botocore and send them on ddblake's own HTTP "
                   "connections (6x cheaper; botocore's full stack is used when something "
                   "hooks the client); botocore: always botocore's stack (e.g. for proxies).")
@click.option("--resume", is_flag=True,
              help="Continue the last unfinished restore into the same table.")
@click.option("--no-verify", is_flag=True, help="Skip reading the target back afterwards.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Summary format (json goes to stdout).")
@region_option
@profile_option
@dry_run_option
@quiet_option
def restore_command(table: str | None, lake: str, target: str, snapshot: str,
                    as_of: str | None, where: str | None, keys_file: str | None,
                    deleted_between: tuple[str, str] | None,
                    changed_between: tuple[str, str] | None, existing: bool, mode: str,
                    with_: str | None, billing_mode: str | None, no_indexes: bool,
                    skip_expired: bool, max_wcu: float | None, workers: int | None,
                    engine: str, threads: int,
                    unit_rows: int, transport: str, resume: bool, no_verify: bool, fmt: str,
                    region: str | None, profile: str | None, dry_run: bool, quiet: bool) -> None:
    """Restore items of TABLE from the lake into a DynamoDB table.

    By default the latest snapshot is written, whole, into a NEW table rebuilt from the
    snapshot's description. Narrow it with --where, --keys, --deleted-between or
    --changed-between; write into a live table with --existing. Items that cannot be
    written go to a dead-letter file in the lake and the exit code is 9. Every item is
    checked against the hash the backup recorded for it before it is written: a damaged
    item stops the restore with exit code 4 and names its key.

    \b
    Examples:
      ddblake restore users --lake ./lake --to users-copy
      ddblake restore users --lake ./lake --to users --existing \\
          --where "last_update >= '2014-01-01'" --dry-run
    """
    if dry_run and resume:
        raise UsageError("--dry-run and --resume exclude each other")
    config = RestoreConfig(
        lake=lake, target=target, table=table, snapshot=snapshot, as_of=as_of, where=where,
        keys_file=keys_file, deleted_between=deleted_between or None,
        changed_between=changed_between or None, existing=existing,
        mode=mode,  # type: ignore[arg-type]
        with_features=_features(with_), billing_mode=billing_mode, no_indexes=no_indexes,
        skip_expired=skip_expired, max_wcu=max_wcu,
        workers=workers or (1 if engine == "local" else None), engine=engine, threads=threads,
        unit_rows=unit_rows, transport=transport,  # type: ignore[arg-type]
        dry_run=dry_run, verify=not no_verify, resume=resume, region=region, profile=profile)
    try:
        with engine_output(engine):
            result = restore(config, listener=TerminalProgress(quiet=quiet))
    except RestoreIncomplete as e:
        summary(_summary(e.result, fmt), "json" if fmt == "json" else "table")
        raise
    summary(_summary(result, fmt), "json" if fmt == "json" else "table")
