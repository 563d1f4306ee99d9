"""Lake care: ``verify``, ``prune``, ``archive``, ``lifecycle``, ``thaw``, ``copy`` (and
``drill``). Thin translators: parse flags, call one library function, render the result."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
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
    table_option,
)
from ddblake.output import json_bytes, output_options, render_to, summary
from ddblake.progress import TerminalProgress
from lake.archive import THAW_TIERS
from lake.fileio import STORAGE_CLASSES
from schemas.errors import UsageError

_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m`` -> timedelta."""
    match = re.fullmatch(r"(\d+)\s*([mhdw])", text.strip().lower())
    if not match:
        raise UsageError(f"bad duration {text!r}", hint="write a number and a unit: 90m, 12h, "
                                                        "30d or 2w")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _lake(lake: str, profile: str | None, region: str | None, **options: Any) -> Any:
    from lake.aws import make_session
    from lake.fileio import WriteOptions, load_file_io

    write = WriteOptions(**options) if options else None
    return load_file_io(lake, session=make_session(profile, region), options=write)


def _distributed(engine: str, profile: str | None, region: str | None) -> Any:
    """``--engine ray``: deep checks as units on the cluster; local: threads here."""
    if engine == "local":
        return None
    from lake.verify import Distributed
    from runtime.executor import make_executor

    return Distributed(make_executor(engine, None), profile, region)


@cli.command("verify")
@click.argument("snapshot", required=False)
@click.option("--all", "all_", is_flag=True,
              help="Verify every snapshot and change batch (of --table, or of the lake).")
@lake_option
@table_option
@click.option("--deep", is_flag=True,
              help="Also read every byte: re-hash each part and each row, recount rows and "
                   "recompute digests (downloads the data).")
@click.option("--no-changes", is_flag=True, help="With --all: skip change batches.")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True,
              help="With --deep: parts checked at the same time (downloads overlap).")
@engine_option
@quiet_option
@profile_option
@region_option
@output_options()
def verify_command(snapshot: str | None, all_: bool, lake: str, table: str | None, deep: bool,
                   no_changes: bool, workers: int, engine: str, quiet: bool,
                   profile: str | None, region: str | None, fmt: str,
                   output: str | None) -> None:
    """Check that snapshots are whole and unaltered. SNAPSHOT is an id or 'latest'.

    Without --deep: each manifest parses (self-checksum, known version) and every part is
    present with its recorded size. Exit codes: 0 ok, 4 corrupt, 5 missing, 6 archived
    (run `ddblake thaw` first). Every problem found is listed, not just the first.
    """
    from lake.verify import locate, verify_lake, verify_snapshot, worst_error

    if bool(snapshot) == all_:
        raise UsageError("give either SNAPSHOT or --all", hint="e.g. ddblake verify latest "
                                                               "--lake LAKE --deep")
    from lake import catalog

    io = _lake(lake, profile, region)
    listener = TerminalProgress(quiet=quiet)
    with engine_output(engine):
        distributed = _distributed(engine, profile, region) if deep else None
        if all_:
            if table:
                catalog.require_table(io, table)
            else:
                catalog.check_lake(io)
            results = verify_lake(io, table, deep=deep, changes=not no_changes,
                                  listener=listener, workers=workers, distributed=distributed)
        else:
            name, sid = locate(io, snapshot or "latest", table)
            results = [verify_snapshot(io, name, sid, deep=deep, listener=listener,
                                       workers=workers, distributed=distributed)]
    rows = [{**r.to_dict(), "status": "ok" if r.ok else r.problems[0].kind,
             "issues": len(r.problems)} for r in results]
    render_to(rows, fmt, output, columns=("table", "id", "what", "status", "parts", "items",
                                          "bytes", "issues"))
    for r in results:
        for note in r.notes:
            click.echo(f"  note: {note}", err=True)
        for problem in r.problems:
            click.echo(f"  {r.table}/{r.id}: {problem}", err=True)
    error = worst_error(results)
    if error is not None:
        raise error
    if not results:
        click.echo("nothing to verify: the lake holds no committed snapshot", err=True)


@cli.command("prune")
@lake_option
@table_option
@click.option("--keep-last", type=click.IntRange(0), default=0, show_default=True,
              help="Keep the N newest snapshots.")
@click.option("--keep-daily", type=click.IntRange(0), default=0, show_default=True,
              help="Keep the newest snapshot of each of the last N days that have one.")
@click.option("--keep-weekly", type=click.IntRange(0), default=0, show_default=True,
              help="Keep the newest snapshot of each of the last N ISO weeks that have one.")
@click.option("--keep-monthly", type=click.IntRange(0), default=0, show_default=True,
              help="Keep the newest snapshot of each of the last N months that have one.")
@dry_run_option
@quiet_option
@profile_option
@region_option
@output_options()
def prune_command(lake: str, table: str | None, keep_last: int, keep_daily: int,
                  keep_weekly: int, keep_monthly: int, dry_run: bool, quiet: bool,
                  profile: str | None, region: str | None, fmt: str,
                  output: str | None) -> None:
    """Delete snapshots outside a grandfather-father-son retention policy.

    The plan (keep/delete and why) is shown first. Never deleted: the newest snapshot, a
    snapshot under S3 Object Lock, and the base snapshot a change-log chain needs. A
    snapshot's manifest is deleted first (it disappears at once), then its parts.
    """
    from lake.retention import RetentionPolicy, apply_prune, plan_prune

    io = _lake(lake, profile, region)
    policy = RetentionPolicy(keep_last, keep_daily, keep_weekly, keep_monthly)
    plan = plan_prune(io, policy, table=table)
    render_to([d.to_dict() for d in plan.decisions], fmt, output,
              columns=("table", "snapshot", "action", "why"))
    outcome: dict[str, Any] = {"kept": len(plan.kept), "to_delete": len(plan.to_delete)}
    if dry_run:
        outcome["dry_run"] = "nothing was deleted"
    else:
        result = apply_prune(io, plan, listener=TerminalProgress(quiet=quiet))
        outcome.update(deleted=len(result.deleted), objects_deleted=result.objects)
        if result.iceberg_expired:
            outcome["iceberg_snapshots_expired"] = result.iceberg_expired
        for leftover in result.leftovers:
            click.echo(f"  could not delete {leftover}", err=True)
    summary(outcome, "text")


@cli.command("archive")
@lake_option
@table_option
@click.option("--older-than", required=True,
              help="Move snapshots older than this (by snapshot time): e.g. 30d, 12h, 2w.")
@click.option("--storage-class", required=True, type=click.Choice(STORAGE_CLASSES[1:]),
              help="Target storage class of the data parts (manifests stay in STANDARD).")
@dry_run_option
@quiet_option
@profile_option
@region_option
@output_options(formats=("table", "json"), default="table")
def archive_command(lake: str, table: str | None, older_than: str, storage_class: str,
                    dry_run: bool, quiet: bool, profile: str | None, region: str | None,
                    fmt: str, output: str | None) -> None:
    """Move the data parts of old snapshots to a colder S3 storage class.

    Each part is copied onto its own key in the new class (multipart copy for big parts),
    keeping its encryption, Object Lock retention and tags. GLACIER and DEEP_ARCHIVE parts
    must be thawed (`ddblake thaw`) before query, restore or verify --deep can read them.
    """
    from lake.archive import archive_snapshots

    io = _lake(lake, profile, region)
    result = archive_snapshots(io, storage_class, parse_duration(older_than), table=table,
                               dry_run=dry_run, listener=TerminalProgress(quiet=quiet))
    for skipped in result.skipped:
        click.echo(f"  skipped {skipped}", err=True)
    summary({"storage_class": storage_class, "snapshots": len(result.snapshots),
             "parts": result.parts, "bytes": result.bytes, "skipped": len(result.skipped),
             "dry_run": dry_run, "ids": " ".join(result.snapshots)}, fmt)


@cli.command("lifecycle")
@lake_option
@click.option("--transition", "transitions", multiple=True, metavar="DAYS:CLASS",
              help="Move snapshot data parts to CLASS DAYS days after they were written "
                   "(repeatable, e.g. --transition 30:GLACIER --transition 180:DEEP_ARCHIVE).")
@click.option("--abort-multipart-days", type=click.IntRange(1), default=7, show_default=True,
              help="Abort multipart uploads left incomplete this many days (crashed uploads).")
@click.option("--noncurrent-days", type=click.IntRange(1), default=None,
              help="In a versioned bucket, expire noncurrent versions (e.g. pruned parts) "
                   "after this many days.")
@click.option("--no-tag-existing", is_flag=True,
              help="Do not tag parts written before ddblake tagged data parts.")
@dry_run_option
@profile_option
@region_option
def lifecycle_command(lake: str, transitions: tuple[str, ...], abort_multipart_days: int,
                      noncurrent_days: int | None, no_tag_existing: bool, dry_run: bool,
                      profile: str | None, region: str | None) -> None:
    """Write S3 lifecycle rules for the lake, so S3 itself moves old snapshot data to cold
    storage and cleans up crashed uploads.

    S3 filters cannot match '*/data/', so the transition rule selects the lake prefix AND
    the tag ddblake-kind=snapshot-data, which ddblake puts on every snapshot data part
    (never on manifests). Other rules of the bucket are kept. --dry-run prints the JSON.
    """
    from lake.lifecycle import Transition, apply_lifecycle, lifecycle_rules, tag_snapshot_parts

    io = _lake(lake, profile, region)
    rules = lifecycle_rules(io, [Transition.parse(t) for t in transitions],
                            abort_days=abort_multipart_days, noncurrent_days=noncurrent_days)
    configuration = apply_lifecycle(io, rules, dry_run=dry_run)
    sys.stdout.write(json_bytes(configuration).decode("utf-8") + "\n")
    tagged = 0 if no_tag_existing else tag_snapshot_parts(io, dry_run=dry_run)
    verb = "would write" if dry_run else "wrote"
    click.echo(f"{verb} {len(configuration['Rules'])} lifecycle rules on "
               f"{io.uri}; {tagged} existing parts {'need' if dry_run else 'got'} the "
               "snapshot-data tag", err=True)


@cli.command("thaw")
@click.argument("snapshot")
@lake_option
@table_option
@click.option("--days", type=click.IntRange(1), default=7, show_default=True,
              help="How many days the thawed copy stays readable.")
@click.option("--tier", type=click.Choice(THAW_TIERS), default="Standard", show_default=True,
              help="Retrieval speed and price (Expedited is not available for DEEP_ARCHIVE).")
@click.option("--wait", is_flag=True, help="Poll until every part is readable.")
@click.option("--timeout", default="48h", show_default=True,
              help="With --wait: give up after this long (exit 6; re-run later).")
@click.option("--poll", default="1m", show_default=True, help="With --wait: time between polls.")
@quiet_option
@profile_option
@region_option
@output_options(formats=("table", "json"), default="table")
def thaw_command(snapshot: str, lake: str, table: str | None, days: int, tier: str,
                 wait: bool, timeout: str, poll: str, quiet: bool, profile: str | None,
                 region: str | None, fmt: str, output: str | None) -> None:
    """Restore the archived parts of SNAPSHOT (an id or 'latest') so they can be read.

    Asks S3 to restore each GLACIER / DEEP_ARCHIVE part (never twice), then with --wait
    polls until all are readable. Run it again at any time to see progress.
    """
    from lake import catalog
    from lake.archive import ThawRequest, thaw_snapshot

    io = _lake(lake, profile, region)
    manifest = catalog.find_snapshot(io, snapshot, table)
    request = ThawRequest(days=days, tier=tier, wait=wait,
                          timeout=parse_duration(timeout).total_seconds(),
                          poll=parse_duration(poll).total_seconds())
    status = thaw_snapshot(io, manifest, request, listener=TerminalProgress(quiet=quiet))
    summary(status.to_dict(), fmt)


@cli.command("copy")
@click.argument("snapshot")
@lake_option
@table_option
@click.option("--to", "to", required=True,
              help="The destination lake: another bucket/prefix (any region or account) or "
                   "folder.")
@click.option("--to-profile", default=None,
              help="AWS profile for the destination (another account).")
@click.option("--to-region", default=None, help="AWS region of the destination bucket.")
@click.option("--to-storage-class", type=click.Choice(STORAGE_CLASSES), default=None,
              help="Storage class of the copied data parts.")
@click.option("--to-kms-key", default=None,
              help="Encrypt the copied objects with this KMS key (SSE-KMS).")
@click.option("--deep", is_flag=True, help="Verify the copy by reading every byte back.")
@quiet_option
@profile_option
@region_option
@output_options(formats=("table", "json"), default="table")
def copy_command(snapshot: str, lake: str, table: str | None, to: str, to_profile: str | None,
                 to_region: str | None, to_storage_class: str | None, to_kms_key: str | None,
                 deep: bool, quiet: bool, profile: str | None, region: str | None, fmt: str,
                 output: str | None) -> None:
    """Copy SNAPSHOT (an id or 'latest') to another lake, then verify it there.

    Each part is checked against the manifest before upload, the manifest is written last,
    and a re-run skips parts already copied.
    """
    from lake import catalog
    from lake.copy import copy_snapshot

    source = _lake(lake, profile, region)
    target = _lake(to, to_profile, to_region, storage_class=to_storage_class,
                   kms_key=to_kms_key)
    manifest = catalog.find_snapshot(source, snapshot, table)
    result = copy_snapshot(source, target, manifest, deep=deep,
                           listener=TerminalProgress(quiet=quiet))
    summary(result.to_dict(), fmt)


@cli.command("drill")
@click.argument("table")
@lake_option
@click.option("--snapshot", default="latest", show_default=True,
              help="The snapshot to drill (an id or 'latest').")
@click.option("--target", default=None,
              help="Name of the temporary table (default: TABLE-drill-<drill id>).")
@click.option("--keep-table", is_flag=True,
              help="Keep the restored table for inspection instead of deleting it.")
@engine_option
@quiet_option
@profile_option
@region_option
@output_options(formats=("table", "json"), default="table")
def drill_command(table: str, lake: str, snapshot: str, target: str | None, keep_table: bool,
                  engine: str, quiet: bool, profile: str | None, region: str | None, fmt: str,
                  output: str | None) -> None:
    """Prove that TABLE's latest snapshot restores: verify it deeply, restore it into a
    temporary table, compare counts and digests, delete the table, and record the outcome
    in the lake (TABLE/state/drills/). A failed drill is recorded too and exits non-zero.
    """
    from lake.aws import make_session
    from restorer.drill import DrillConfig, drill

    config = DrillConfig(lake=lake, table=table, snapshot=snapshot, target=target,
                         keep_table=keep_table, profile=profile, region=region, engine=engine)
    with engine_output(engine):
        result = drill(config, session=make_session(profile, region),
                       listener=TerminalProgress(quiet=quiet))
    summary(result.to_dict() if fmt == "json" else result.summary(), fmt)
