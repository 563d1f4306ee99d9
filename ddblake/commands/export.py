"""``ddblake export``, ``snapshots``, ``show`` and ``gc``: thin translators to the library."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click

from ddblake.cli import cli
from ddblake.commands.native import MODES_HELP, NATIVE_MODES, native_options
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
from ddblake.output import json_bytes, open_output, output_options, render, render_to, summary
from ddblake.progress import TerminalProgress
from lake.fileio import STORAGE_CLASSES
from lake.locks import LOCK_MODES
from schemas.errors import UsageError


def _segments(value: str) -> int | None:
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--segments must be a positive whole number or 'auto', not {value!r}",
                         hint="e.g. --segments 8, or leave it at auto")
    return int(value)


def _scan_mode(options: dict[str, Any]) -> dict[str, Any]:
    from exporter.workers import WORKER_MODULES
    from runtime.processes import prestart

    if options["workers"] != 1 and options["engine"] == "local":
        prestart(WORKER_MODULES)  # the workers' modules load while this process loads its own
    from exporter import ExportConfig, export_table
    from lake.aws import make_session

    config = ExportConfig(
        table=options["table"], lake=options["lake"], segments=_segments(options["segments"]),
        workers=options["workers"], consistent_read=options["consistent_read"],
        max_rcu=options["max_rcu"], target_part_mb=options["target_file_mb"],
        resume=options["resume"], profile=options["profile"], region=options["region"],
        page_limit=options["page_size"], storage_class=options["storage_class"],
        kms_key=options["kms_key"], lock_mode=options["lock_mode"],
        lock_days=options["lock_days"], engine=options["engine"])
    session = make_session(options["profile"], options["region"])
    result = export_table(config, session=session,
                          listener=TerminalProgress(quiet=options["quiet"]))
    return result.to_dict()


# How each --mode runs. Another mode (native export, incremental) adds one entry here and
# its own options; each entry takes every parsed option and returns the summary dict.
EXPORT_MODES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "scan": _scan_mode, **NATIVE_MODES}


@cli.command("export")
@click.argument("table")
@lake_option
@click.option("--mode", type=click.Choice(sorted(EXPORT_MODES)), default="scan",
              show_default=True, help="How to read the table: 'scan' = parallel Scan "
              "(any table; consumes read capacity; consistency is fuzzy over the scan window); "
              + MODES_HELP)
@click.option("--segments", default="auto", show_default=True,
              help="Parallel Scan segments (TotalSegments), or 'auto' (one per 128 MiB of "
                   "table, at least two per worker).")
@click.option("--workers", type=click.IntRange(1, 1024), default=None,
              help="Worker processes (default: the number of CPUs; 1 = no subprocesses); "
                   "with --engine ray, units running at once (default: the cluster's CPUs).")
@engine_option
@click.option("--consistent-read", is_flag=True,
              help="Strongly consistent Scan (costs twice the read capacity).")
@click.option("--max-rcu", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Read budget for the whole export, in RCU per second, shared by all "
                   "workers (default: unlimited).")
@click.option("--target-file-mb", type=click.FloatRange(min=0, min_open=True),
              default=8.0,  # exporter.config.DEFAULT_TARGET_MB (a test keeps them equal)
              show_default=True,
              help="Cut a part when its items reach this many MB of canonical DynamoDB JSON "
                   "(the Parquet file is about 30 %% of that: bench/scan).")
@click.option("--page-size", type=click.IntRange(1, 1_000_000), default=None,
              help="Items per Scan request (Limit; default: DynamoDB's 1 MB pages). Smaller "
                   "pages smooth rate limiting and checkpoint more often.")
@click.option("--resume", is_flag=True,
              help="Continue the most recent interrupted export of TABLE into the same "
                   "snapshot.")
@click.option("--storage-class", type=click.Choice(STORAGE_CLASSES), default=None,
              help="S3 storage class of the data parts (manifests stay in STANDARD so the "
                   "catalog stays readable; GLACIER/DEEP_ARCHIVE need `ddblake thaw` to read).")
@click.option("--kms-key", default=None,
              help="Encrypt every object written with this KMS key (SSE-KMS): id, ARN or "
                   "alias.")
@click.option("--lock-mode", type=click.Choice(LOCK_MODES), default=None,
              help="S3 Object Lock the data parts (WORM): GOVERNANCE or COMPLIANCE. The "
                   "bucket must have Object Lock enabled.")
@click.option("--lock-days", type=click.IntRange(1), default=None,
              help="With --lock-mode: days the data parts cannot be deleted or overwritten.")
@native_options
@quiet_option
@profile_option
@region_option
@output_options(formats=("table", "json"), default="table")
def export_command(**options: Any) -> None:
    """Export TABLE into the lake as a new Parquet snapshot.

    Nothing is visible until the snapshot's manifest is written last; an interrupted
    export keeps per-segment checkpoints and continues with --resume. The summary goes to
    stdout with --format json (else to stderr).
    """
    storage = [f"--{n.replace('_', '-')}" for n in ("storage_class", "kms_key", "lock_mode",
                                                    "lock_days") if options.get(n)]
    if storage and options["mode"] != "scan":
        raise UsageError(f"{', '.join(storage)} work with --mode scan only (for now)",
                         hint="export with --mode scan, or move parts later with `ddblake "
                              "archive` / `ddblake lifecycle`")
    mode = EXPORT_MODES[options["mode"]]
    with engine_output(options["engine"]):
        outcome = mode(options)
    if options["output"]:
        render_to([outcome], "json" if options["fmt"] == "json" else "table", options["output"])
    else:
        summary(outcome, options["fmt"])


@cli.command("snapshots")
@lake_option
@table_option
@profile_option
@region_option
@output_options()
def snapshots_command(lake: str, table: str | None, profile: str | None, region: str | None,
                      fmt: str, output: str | None) -> None:
    """List the committed snapshots in the lake (oldest first), with each snapshot's storage
    tier (STANDARD, GLACIER, GLACIER (thawed), ...; `local` for a folder) and when a restore
    drill last proved it restorable (`ddblake drill`).

    In table format it then shows, per table, the intervals of time that `as_of` rebuilds
    exactly and any gaps in the change log (the same rows as `ddblake coverage`)."""
    from exporter.listing import snapshot_rows
    from lake.archive import snapshot_tier
    from lake.aws import make_session
    from lake.drills import passed_drills
    from lake.fileio import load_file_io

    io = load_file_io(lake, session=make_session(profile, region))
    listed = snapshot_rows(io, table)
    rows = [row for row, _ in listed]
    proven = {(d["table"], d["snapshot"]): d["started_at"]
              for t in {r["table"] for r in rows} for d in passed_drills(io, t)}
    for row, manifest in listed:
        row["tier"] = snapshot_tier(io, manifest) if manifest else "DAMAGED"
        row["drilled"] = proven.get((row["table"], row["snapshot_id"]), "")
        if manifest is None:
            click.echo(f"warning: snapshot {row['snapshot_id']} of {row['table']} is damaged "
                       f"and every query skips it: {row['damaged']}", err=True)
    render_to(rows, fmt, output, columns=("table", "snapshot_id", "created_at", "method",
                                          "consistency", "items", "bytes", "tier", "drilled"))
    if not rows and not table:
        from lake.catalog import empty_lake

        click.echo(f"note: {empty_lake(io)}", err=True)  # a mistyped S3 prefix shows here
    if fmt == "table" and output is None:
        _show_coverage(io, sorted({r["table"] for r in rows}))


def _show_coverage(io: Any, tables: list[str]) -> None:
    from ddblake.commands.coverage import coverage_rows
    from lake.coverage import coverage, describe

    spans = [row for name in tables for row in coverage_rows(describe(coverage(io, name)))
             if row["what"] != "change log"]
    click.echo("")
    if not spans:
        click.echo("No change log covers any interval: as_of gives the latest snapshot at or "
                   "before a time (`ddblake stream` makes it exact to the second).")
        return
    click.echo("as_of is exact (to the second) in these intervals; GAP rows are missing log:")
    render_to(spans, "table", None, columns=("table", "what", "from", "to", "detail"))


@cli.command("show")
@click.argument("snapshot")
@lake_option
@table_option
@profile_option
@region_option
@output_options(formats=("table", "json"), default="table")
def show_command(snapshot: str, lake: str, table: str | None, profile: str | None,
                 region: str | None, fmt: str, output: str | None) -> None:
    """Print a snapshot's manifest: summary, columns and parts. SNAPSHOT is an id or
    'latest'."""
    from exporter.listing import describe_snapshot
    from lake.aws import make_session
    from lake.fileio import load_file_io

    io = load_file_io(lake, session=make_session(profile, region))
    described = describe_snapshot(io, snapshot, table)
    if fmt == "json":
        render_to([described], "json", output)
        return
    out = open_output(output)
    try:
        out.write("\n".join(f"{k}: {_text(v)}" for k, v in described["summary"].items()))
        out.write("\n\ncolumns:\n")
        render(described["columns"], "table", out,
               columns=("name", "dynamo_type", "type", "reason"))
        out.write("\nparts:\n")
        render(described["parts"], "table", out,
               columns=("path", "rows", "bytes", "min_key", "max_key"))
    finally:
        if output:
            out.close()


def _text(value: Any) -> str:
    return json_bytes(value).decode() if isinstance(value, dict | list) else str(value)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text.strip())
    if not match:
        raise UsageError(f"{text!r} is not a duration",
                         hint="write a number and a unit: 30m, 24h, 7d, 0s")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


@cli.command("gc")
@lake_option
@table_option
@click.option("--older-than", default="24h", show_default=True,
              help="Only remove what is older than this (30m, 24h, 7d); protects exports "
                   "that are still running or waiting for --resume.")
@dry_run_option
@quiet_option
@profile_option
@region_option
@output_options()
def gc_command(lake: str, table: str | None, older_than: str, dry_run: bool, quiet: bool,
               profile: str | None, region: str | None, fmt: str, output: str | None) -> None:
    """Remove parts no manifest names, stale export state and stale S3 multipart uploads.

    With --dry-run, list what would be removed and change nothing.
    """
    from exporter.garbage import collect_garbage
    from lake.aws import make_session
    from lake.fileio import load_file_io

    io = load_file_io(lake, session=make_session(profile, region))
    report = collect_garbage(io, older_than=parse_duration(older_than), dry_run=dry_run,
                             table=table)
    render_to(report.deleted, fmt, output, columns=("kind", "key", "bytes", "modified"))
    if not quiet:
        verb = "would remove" if dry_run else "removed"
        click.echo(f"{verb} {len(report.deleted)} objects ({report.bytes:,} bytes); kept "
                   f"{report.kept_recent} recent", err=True)
