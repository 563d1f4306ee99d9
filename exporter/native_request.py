"""Ask DynamoDB for a native export, wait for it, convert it.

``export_full``: ExportTableToPointInTime (FULL_EXPORT) at an exact time -> one snapshot.
``export_incremental``: INCREMENTAL_EXPORT windows from the chain's end to now (at most
24 hours each) -> change batches. The export lands in the lake's own bucket under
``<lake prefix>/_exports/`` when the lake is on S3, else in ``export_bucket``.

Requests carry a ClientToken derived from the table, type and times, so a retried request
is the same export; the export in flight is remembered in ``state/native-export.json`` and
a re-run resumes waiting for it instead of asking again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from exporter import export_chain
from exporter.describe import describe_table
from exporter.export_reader import open_export, parse_time
from exporter.import_export import ImportResult, convert_export
from exporter.native import ConvertConfig, iso_us
from lake import layout
from lake.aws import error_code, translate
from lake.fileio import FileIO, S3FileIO, S3Location
from lake.progress import NullListener, ProgressListener
from schemas.errors import AwsError, MissingDataError, RetriesExceeded, UsageError
from schemas.keys import KeySchema

PENDING = "native-export.json"
TASK = "export"


@dataclass(frozen=True)
class NativeExportConfig:
    """One native export run. ``export_bucket`` (s3://bucket/prefix) is required when the
    lake is a local folder; ``timeout`` bounds the wait for DynamoDB (real exports take
    at least ~5 minutes)."""

    table: str
    export_time: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    view: Literal["NEW_AND_OLD_IMAGES", "NEW_IMAGE"] = "NEW_AND_OLD_IMAGES"
    export_bucket: str | None = None
    poll_seconds: float = 20.0
    timeout: timedelta = timedelta(hours=6)
    convert: ConvertConfig = field(default_factory=ConvertConfig)

    def __post_init__(self) -> None:
        layout.check_table_name(self.table)
        if self.poll_seconds <= 0:
            raise UsageError(f"poll interval must be positive, not {self.poll_seconds}")
        if self.export_bucket is not None and not self.export_bucket.startswith("s3://"):
            raise UsageError(f"--export-bucket {self.export_bucket!r} is not s3://BUCKET[/PREFIX]",
                             hint="DynamoDB exports only to S3")


@dataclass
class Clock:
    """Time and sleep, swappable in tests."""

    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = time.sleep


def destination(lake: FileIO, export_bucket: str | None) -> S3Location:
    """Where DynamoDB writes the export: the lake bucket's ``_exports/`` or --export-bucket."""
    if export_bucket:
        return S3Location.parse(export_bucket)
    if isinstance(lake, S3FileIO):
        loc = lake.location
        return S3Location(loc.bucket, f"{loc.prefix}/_exports" if loc.prefix else "_exports")
    raise UsageError("a native export is written by DynamoDB to S3, and this lake is a local "
                     "folder", hint="pass --export-bucket s3://BUCKET/PREFIX (the export is "
                     "converted from there), or use --mode scan")


def client_token(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def pitr_window(ddb: Any, table: str) -> tuple[datetime | None, datetime | None]:
    """(earliest, latest) restorable times; a clear error when PITR is off."""
    try:
        backups = ddb.describe_continuous_backups(TableName=table)
    except (ClientError, BotoCoreError) as e:
        raise translate(e, action="read the backup settings of", resource=f"table {table}") from e
    pitr = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription") or {}
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise pitr_error(table)
    return pitr.get("EarliestRestorableDateTime"), pitr.get("LatestRestorableDateTime")


def pitr_error(table: str) -> UsageError:
    return UsageError(
        f"point-in-time recovery (PITR) is not enabled on table {table}; native exports need it",
        hint=f"enable it: aws dynamodb update-continuous-backups --table-name {table} "
             "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true "
             "(or back up with --mode scan, which needs no PITR)")


def request(ddb: Any, args: dict[str, Any], table: str) -> dict[str, Any]:
    try:
        return dict(ddb.export_table_to_point_in_time(**args)["ExportDescription"])
    except ClientError as e:
        if error_code(e) == "PointInTimeRecoveryUnavailableException":
            raise pitr_error(table) from e
        if error_code(e) == "InvalidExportTimeException":
            raise UsageError(f"DynamoDB refused the export time of table {table}: {e}",
                             hint="pick a time inside the table's point-in-time recovery "
                                  "window (see `aws dynamodb describe-continuous-backups`)"
                             ) from e
        if error_code(e) == "IdempotentParameterMismatchException":
            raise UsageError(f"DynamoDB already has an export with this request's token but "
                             f"other settings ({e})", hint="wait 8 hours or change --export-time"
                             ) from e
        raise translate(e, action="request an export of", resource=f"table {table}") from e
    except BotoCoreError as e:
        raise translate(e, action="request an export of", resource=f"table {table}") from e


def wait_for(ddb: Any, export_arn: str, config: NativeExportConfig, clock: Clock,
             listener: ProgressListener) -> dict[str, Any]:
    """Poll DescribeExport until COMPLETED (returned), FAILED (AwsError) or the deadline."""
    started = clock.now()
    deadline = started + config.timeout
    listener.started(TASK, total=None, unit="s")
    last = "?"
    while True:
        try:
            described = dict(ddb.describe_export(ExportArn=export_arn)["ExportDescription"])
        except (ClientError, BotoCoreError) as e:
            raise translate(e, action="follow", resource=f"export {export_arn}") from e
        status = described.get("ExportStatus", "?")
        if status != last:
            listener.message(f"export {export_arn.rsplit('/', 1)[-1]}: {status}")
            last = status
        if status == "COMPLETED":
            listener.finished(TASK)
            return described
        if status == "FAILED":
            raise AwsError(f"DynamoDB export {export_arn} failed: "
                           f"{described.get('FailureCode')}: {described.get('FailureMessage')}",
                           hint="check the bucket exists and DynamoDB may write to it "
                                "(s3:PutObject, s3:AbortMultipartUpload, KMS key access)")
        if clock.now() >= deadline:
            raise RetriesExceeded(f"export {export_arn} is still {status} after "
                                  f"{config.timeout}", remaining=1,
                                  hint="re-run the same command later: it resumes waiting "
                                       "for this export")
        clock.sleep(config.poll_seconds)
        listener.advanced(TASK, config.poll_seconds)


def export_folder(described: dict[str, Any], bucket: str, prefix: str) -> str:
    manifest = described.get("ExportManifest")
    if manifest:
        return f"s3://{bucket}/{manifest.rsplit('/', 1)[0]}/"
    export_id = str(described["ExportArn"]).rsplit("/", 1)[-1]
    base = f"{prefix}/AWSDynamoDB" if prefix else "AWSDynamoDB"
    return f"s3://{bucket}/{base}/{export_id}/"


def _pending(lake: FileIO, table: str) -> dict[str, Any] | None:
    key = layout.state_key(table, PENDING)
    return dict(orjson.loads(lake.read(key))) if lake.exists(key) else None


def run_export(ddb: Any, s3_client: Any, lake: FileIO, config: NativeExportConfig,
               args: dict[str, Any], clock: Clock, listener: ProgressListener,
               description: dict[str, Any], at: datetime) -> ImportResult:
    """Request (or resume) one export, wait, convert, clear the pending marker."""
    table = config.table
    marker = layout.state_key(table, PENDING)
    pending = _pending(lake, table)
    if pending and pending.get("token") == args["ClientToken"]:
        export_arn = str(pending["export_arn"])
        listener.message(f"resuming export {export_arn.rsplit('/', 1)[-1]}")
    else:
        export_arn = str(request(ddb, args, table)["ExportArn"])
        lake.write(marker, orjson.dumps({"export_arn": export_arn, "token": args["ClientToken"],
                                         "type": args["ExportType"], "at": iso_us(at)}))
    try:
        described = wait_for(ddb, export_arn, config, clock, listener)
    except AwsError:
        lake.delete(marker)  # a failed export is never resumed
        raise
    folder = export_folder(described, args["S3Bucket"], args.get("S3Prefix", ""))
    listener.message(f"converting {folder}")
    try:
        source, export = open_export(folder, s3_client=s3_client)
    except MissingDataError as e:
        lake.delete(marker)  # an export without manifests will never convert: ask anew
        raise MissingDataError(f"DynamoDB reported export {export_arn} COMPLETED but {folder} "
                               f"is unusable: {e.message}",
                               hint="emulators (moto, LocalStack) write no export manifests; "
                                    "on AWS, check nothing deleted the export's objects. "
                                    "Re-running requests a new export") from e
    keys = KeySchema.from_description(description)
    result = convert_export(export, source, lake, table=table, keys=keys,
                            description=description, config=config.convert, listener=listener)
    lake.delete(marker)
    return result


def _args(description: dict[str, Any], dest: S3Location, token: str) -> dict[str, Any]:
    args: dict[str, Any] = {"TableArn": description["TableArn"], "S3Bucket": dest.bucket,
                            "ExportFormat": "DYNAMODB_JSON", "ClientToken": token}
    if dest.prefix:
        args["S3Prefix"] = dest.prefix
    return args


def export_full(ddb: Any, s3_client: Any, lake: FileIO, config: NativeExportConfig, *,
                clock: Clock | None = None,
                listener: ProgressListener | None = None) -> ImportResult:
    """A full native export at ``export_time`` (default: now, or the time of the export
    still in flight from an interrupted run) -> one exact snapshot."""
    clock = clock or Clock()
    listener = listener or NullListener()
    dest = destination(lake, config.export_bucket)
    pitr_window(ddb, config.table)
    description = describe_table(ddb, config.table)
    pending = _pending(lake, config.table)
    when = config.export_time
    if when is None and pending and pending.get("type") == "FULL_EXPORT":
        when = parse_time(pending["at"], "at")
    when = (when or clock.now()).astimezone(UTC).replace(microsecond=0)
    token = client_token(description["TableArn"], "FULL_EXPORT", iso_us(when), dest.bucket,
                         dest.prefix)
    args = {**_args(description, dest, token), "ExportType": "FULL_EXPORT"}
    if config.export_time is not None:
        args["ExportTime"] = when  # else DynamoDB exports "now" (its summary says when)
    return run_export(ddb, s3_client, lake, config, args, clock, listener, description, when)


def export_incremental(ddb: Any, s3_client: Any, lake: FileIO, config: NativeExportConfig, *,
                       clock: Clock | None = None,
                       listener: ProgressListener | None = None) -> list[ImportResult]:
    """Incremental windows from the chain's end (or ``start``) to ``end`` (default: now),
    24 hours at most each. With no chain, or one that cannot continue, and no explicit
    ``start``, takes a full export as the new baseline instead (and says so)."""
    clock = clock or Clock()
    listener = listener or NullListener()
    dest = destination(lake, config.export_bucket)
    earliest, _ = pitr_window(ddb, config.table)
    description = describe_table(ddb, config.table)
    chain = export_chain.load_chain(lake, config.table)
    start = config.start or (chain.end if chain else None)
    end = (config.end or clock.now()).astimezone(UTC)
    reason = _cannot_continue(start, earliest)
    if reason and config.start is None:
        listener.message(f"{reason}; taking a full export as the new baseline")
        return [export_full(ddb, s3_client, lake, config, clock=clock, listener=listener)]
    assert start is not None
    explicit = config.start is not None or config.end is not None
    if explicit and start >= end:
        export_chain.validate_window(start, end, earliest=earliest, latest=None,
                                     table=config.table)
    results: list[ImportResult] = []
    while True:
        stop = min(start + export_chain.MAX_WINDOW, end)
        if stop - start < export_chain.MIN_WINDOW and not explicit:
            if not results:
                listener.message(f"nothing to export yet: the chain ends at {iso_us(start)}; "
                                 "a window must be at least 15 minutes")
            return results
        export_chain.validate_window(start, stop, earliest=earliest, latest=clock.now(),
                                     table=config.table)
        token = client_token(description["TableArn"], "INCREMENTAL_EXPORT", iso_us(start),
                             iso_us(stop), config.view, dest.bucket, dest.prefix)
        args = {**_args(description, dest, token), "ExportType": "INCREMENTAL_EXPORT",
                "IncrementalExportSpecification": {
                    "ExportFromTime": start, "ExportToTime": stop,
                    "ExportViewType": config.view}}
        results.append(run_export(ddb, s3_client, lake, config, args, clock, listener,
                                  description, stop))
        start = stop


def _cannot_continue(start: datetime | None, earliest: datetime | None) -> str | None:
    if start is None:
        return "the lake has no incremental chain for this table yet"
    if earliest is not None and start < earliest:
        return (f"the chain ends at {iso_us(start)}, before the point-in-time recovery window "
                f"starts ({iso_us(earliest)}): the chain cannot continue")
    return None
