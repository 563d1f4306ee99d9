"""``ddblake import-export`` (convert an export already in S3), and the ``native`` and
``incremental`` modes of ``ddblake export`` (:data:`NATIVE_MODES`, :func:`native_options`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from ddblake.cli import cli
from ddblake.options import (
    engine_option,
    engine_output,
    lake_option,
    profile_option,
    quiet_option,
    region_option,
)
from ddblake.output import summary
from schemas.errors import UsageError

if TYPE_CHECKING:  # imported where used: `ddblake export` loads this module (see ddblake.cli)
    from exporter.import_export import ImportResult
    from exporter.native import ConvertConfig
    from schemas.keys import KeyAttribute


def parse_key(text: str | None, option: str) -> KeyAttribute | None:
    if text is None:
        return None
    name, _, kind = text.rpartition(":")
    if not name or kind not in ("S", "N", "B"):
        raise UsageError(f"{option} {text!r} is not NAME:TYPE", hint="for example pk:S or ts:N")
    from schemas.keys import KeyAttribute

    return KeyAttribute(name, kind)  # type: ignore[arg-type]


def parse_time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            value = datetime.fromtimestamp(float(text), UTC)
        except ValueError as e:
            raise UsageError(f"{option} {text!r} is not a time",
                             hint="use ISO 8601 (2026-11-22T13:05:00Z) or epoch seconds") from e
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def convert_options(fn: Any) -> Any:
    fn = click.option("--workers", type=click.IntRange(1, 64), default=None,
                      help="Worker processes converting data files (default: CPU count).")(fn)
    fn = click.option("--target-file-mb", type=click.FloatRange(min=1, max=4096), default=32.0,
                      show_default=True,
                      help="Cut a part when its items reach this many MB of canonical "
                           "DynamoDB JSON (bounds each worker's memory).")(fn)
    return fn


def _convert_config(workers: int | None, target_mb: float, profile: str | None,
                    region: str | None, engine: str = "local") -> ConvertConfig:
    from exporter.native import ConvertConfig

    base = ConvertConfig(profile=profile, region=region,
                         part_item_bytes=int(target_mb * 1024 * 1024))
    return ConvertConfig(workers or base.workers, base.part_item_bytes, profile, region,
                         engine)


def _report(results: list[ImportResult], fmt: str) -> None:
    for result in results:
        values = result.to_dict()
        if fmt != "json":
            rate = result.items / result.seconds if result.seconds else 0.0
            values["rate"] = f"{rate:,.0f} items/s"
            values["warnings"] = len(result.warnings)
        for warning in result.warnings:  # shown even with -q: they change what was kept
            click.echo(f"warning: {warning}", err=True)
        summary(values, fmt)
    if not results and fmt == "json":
        summary({"exports": 0}, fmt)


@cli.command(name="import-export")
@click.argument("uri")
@lake_option
@click.option("--table", default=None, help="Lake table name (default: the exported table's).")
@click.option("--partition-key", default=None, metavar="NAME:TYPE",
              help="Partition key, when neither the lake nor DescribeTable knows it (e.g. pk:S).")
@click.option("--sort-key", default=None, metavar="NAME:TYPE", help="Sort key (e.g. sk:S).")
@click.option("--accept-summary-mismatch", is_flag=True, default=False,
              help="Convert although manifest-summary.json fails its .md5 (e.g. an edited "
                   "copy); every data file is still checked, the override is recorded.")
@convert_options
@engine_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Summary format (json goes to stdout).")
@quiet_option
@profile_option
@region_option
def import_export_command(uri: str, lake: str, table: str | None, partition_key: str | None,
                          sort_key: str | None, accept_summary_mismatch: bool,
                          workers: int | None, target_file_mb: float, engine: str, fmt: str,
                          quiet: bool, profile: str | None, region: str | None) -> None:
    """Convert a native export already in S3 (or a local copy) into the lake.

    URI is the export's folder: s3://BUCKET/[PREFIX/]AWSDynamoDB/<ExportId>/. A full
    export becomes a snapshot (exact at the export time); an incremental export becomes
    change records. Exports may be imported in any order; gaps between them show in
    `ddblake coverage`. Every file is verified (MD5, size, gzip, item counts); files not
    listed by manifest-files.json are never read. The table is described by the export's
    table ARN, in its own region.
    """
    from ddblake.progress import TerminalProgress
    from exporter.import_export import import_export
    from lake.aws import make_client, make_session
    from lake.fileio import load_file_io
    from schemas.keys import KeySchema

    pk = parse_key(partition_key, "--partition-key")
    keys = KeySchema(pk, parse_key(sort_key, "--sort-key")) if pk else None
    if sort_key and not pk:
        raise UsageError("--sort-key needs --partition-key too")
    session = make_session(profile, region)
    s3 = make_client("s3", session) if uri.startswith("s3://") or lake.startswith("s3://") \
        else None
    lake_io = load_file_io(lake, session=session, s3_client=s3)
    with engine_output(engine):
        result = import_export(uri, lake_io, table=table, keys=keys,
                               client_for=_client_for(profile) if uri.startswith("s3://") else None,
                               session=session, s3_client=s3,
                               config=_convert_config(workers, target_file_mb, profile, region,
                                                      engine),
                               listener=TerminalProgress(quiet=quiet),
                               accept_summary_mismatch=accept_summary_mismatch)
    _report([result], fmt)


def _client_for(profile: str | None) -> Any:
    """DynamoDB clients for the export's own region (not --region: the export names it)."""
    from lake.aws import make_client, make_session

    return lambda region: make_client("dynamodb", make_session(profile, region))


def _native_mode(options: dict[str, Any]) -> dict[str, Any]:
    """``ddblake export --mode native|incremental``: request, wait, convert; the summary."""
    from datetime import timedelta

    from ddblake.progress import TerminalProgress
    from exporter.native_request import NativeExportConfig, export_full, export_incremental
    from lake.aws import make_client, make_session
    from lake.fileio import load_file_io

    scan_only = [flag for flag, used in (
        ("--segments", options.get("segments", "auto") != "auto"),
        ("--consistent-read", options.get("consistent_read")),
        ("--max-rcu", options.get("max_rcu") is not None),
        ("--page-size", options.get("page_size") is not None),
        ("--resume", options.get("resume"))) if used]
    if scan_only:
        raise UsageError(f"{', '.join(scan_only)} only apply to --mode scan",
                         hint="a native export reads no table capacity and resumes by itself "
                              "(re-run the same command)")
    session = make_session(options["profile"], options["region"])
    ddb, s3 = make_client("dynamodb", session), make_client("s3", session)
    lake_io = load_file_io(options["lake"], session=session, s3_client=s3)
    config = NativeExportConfig(
        options["table"], export_time=parse_time(options["export_time"], "--export-time"),
        start=parse_time(options["start"], "--from"), end=parse_time(options["end"], "--to"),
        view=options["view"], export_bucket=options["export_bucket"],
        poll_seconds=options["poll"], timeout=timedelta(minutes=options["timeout_minutes"]),
        convert=_convert_config(options["workers"], options["target_file_mb"],
                                options["profile"], options["region"], options["engine"]))
    listener = TerminalProgress(quiet=options["quiet"])
    if options["mode"] == "native":
        results = [export_full(ddb, s3, lake_io, config, listener=listener)]
        values = results[0].to_dict()
        values.pop("description", None)  # the table asked for, described by name
    else:
        results = export_incremental(ddb, s3, lake_io, config, listener=listener)
        values = incremental_summary(results)
    warnings = [w for r in results for w in r.warnings]
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return {**values, "warnings": len(warnings)}


def incremental_summary(results: list[ImportResult]) -> dict[str, Any]:
    return {"exports": len(results), "kinds": ",".join(r.kind for r in results),
            "items": sum(r.items for r in results),
            "snapshot_id": next((r.snapshot_id for r in results if r.snapshot_id), None),
            "batches": sum(len(r.batches) for r in results),
            "chain_end": results[-1].chain_end if results else None,
            "seconds": round(sum(r.seconds for r in results), 3)}


NATIVE_MODES = {"native": _native_mode, "incremental": _native_mode}
MODES_HELP = ("'native' = DynamoDB's export at one exact time (needs PITR; no read capacity) "
              "-> a snapshot; 'incremental' = the changes since the table's last exported "
              "point -> change records.")


def native_options(fn: Any) -> Any:
    """Flags of the native/incremental modes (shared with ``ddblake export``)."""
    for option in reversed([
        click.option("--export-time", default=None, metavar="TIME",
                     help="--mode native: the exact point in time (ISO 8601 or epoch; "
                          "default: now)."),
        click.option("--from", "start", default=None, metavar="TIME",
                     help="--mode incremental: window start (default: the chain's end)."),
        click.option("--to", "end", default=None, metavar="TIME",
                     help="--mode incremental: window end (default: now)."),
        click.option("--export-bucket", default=None, metavar="S3URI",
                     help="Where DynamoDB writes the export (required for a local lake; "
                          "default: the lake bucket's _exports/ folder)."),
        click.option("--view", type=click.Choice(["NEW_AND_OLD_IMAGES", "NEW_IMAGE"]),
                     default="NEW_AND_OLD_IMAGES", show_default=True,
                     help="--mode incremental: images to export."),
        click.option("--poll", type=click.FloatRange(0.1, 600), default=20.0,
                     show_default=True, help="Seconds between export status checks."),
        click.option("--timeout", "timeout_minutes", type=click.IntRange(1, 24 * 60),
                     default=360, show_default=True,
                     help="Minutes to wait for DynamoDB; re-running resumes the wait."),
    ]):
        fn = option(fn)
    return fn
