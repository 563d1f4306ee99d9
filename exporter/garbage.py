"""Garbage collection: what crashed or abandoned exports leave behind.

Removed, when older than the threshold:

- every object in a snapshot folder that has no manifest, once the whole folder and its
  export state are older than the threshold (an export still running, or waiting to be
  resumed, keeps everything);
- objects in a committed snapshot's folder that its manifest does not name (parts written
  by an interrupted attempt and not reused);
- export state of runs that were committed, or abandoned;
- incomplete S3 multipart uploads under the lake (S3 lakes only).

Manifests are never deleted here. A lake is untrusted input: only folders named like tables
and snapshot ids are swept, every key is checked before anything is deleted (nothing is deleted
when one would leave the lake), and a damaged manifest stops gc before it deletes anything
(which parts it references cannot be known).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from exporter.state import export_prefix, pending_exports
from lake import catalog, layout
from lake.fileio import FileIO, ObjectInfo, S3FileIO, confined
from lake.progress import NullListener, ProgressListener
from schemas.errors import ManifestError, StorageError
from schemas.manifest import Manifest


@dataclass
class GcReport:
    """What was (or, with ``dry_run``, would be) removed."""

    dry_run: bool
    deleted: list[dict[str, Any]] = field(default_factory=list)
    kept_recent: int = 0

    @property
    def bytes(self) -> int:
        return sum(int(d.get("bytes", 0)) for d in self.deleted)


def collect_garbage(io: FileIO, *, older_than: timedelta = timedelta(hours=24),
                    dry_run: bool = False, table: str | None = None,
                    now: datetime | None = None,
                    listener: ProgressListener | None = None) -> GcReport:
    listener = listener or NullListener()
    cutoff = (now or datetime.now(UTC)) - older_than
    report = GcReport(dry_run)
    if not table:
        catalog.check_lake(io)
    elif not io.list_dirs(layout.state_key(layout.check_table_name(table), "")):
        catalog.require_table(io, table)  # not even export state: say what the lake holds
    tables = [table] if table else _tables(io)
    for name in tables:
        _sweep_snapshots(io, name, cutoff, report)
        _sweep_state(io, name, cutoff, report)
    if isinstance(io, S3FileIO):
        _abort_uploads(io, cutoff, report)
    if not dry_run:
        for entry in report.deleted:
            if entry["kind"] == "multipart-upload" and isinstance(io, S3FileIO):
                io.client.abort_multipart_upload(Bucket=entry["bucket"], Key=entry["key"],
                                                 UploadId=entry["upload_id"])
            else:
                io.delete(entry["key"])
        listener.message(f"removed {len(report.deleted)} objects ({report.bytes:,} bytes)")
    return report


def _tables(io: FileIO) -> list[str]:
    return [name for name in io.list_dirs("") if layout.is_table_name(name)
            and (io.list_dirs(layout.snapshots_prefix(name))
                 or io.list_dirs(layout.state_key(name, "")))]


def _old(objects: list[ObjectInfo], cutoff: datetime) -> bool:
    return all(o.modified < cutoff for o in objects)


def _add(report: GcReport, kind: str, info: ObjectInfo) -> None:
    report.deleted.append({"kind": kind, "key": confined(info.key), "bytes": info.size,
                           "modified": info.modified.isoformat()})


def _sweep_snapshots(io: FileIO, table: str, cutoff: datetime, report: GcReport) -> None:
    for snapshot_id in io.list_dirs(layout.snapshots_prefix(table)):
        if not layout.is_id(snapshot_id):
            continue  # not a folder ddblake made: left alone
        objects = list(io.iter_objects(layout.snapshot_dir(table, snapshot_id)))
        manifest_key = layout.snapshot_manifest(table, snapshot_id)
        if any(o.key == manifest_key for o in objects):
            manifest = _manifest(io, table, snapshot_id)
            named = {layout.snapshot_part(table, snapshot_id, p.path) for p in manifest.parts}
            for info in objects:
                if info.key != manifest_key and info.key not in named:
                    if info.modified < cutoff:
                        _add(report, "unreferenced-part", info)
                    else:
                        report.kept_recent += 1
            continue
        state = list(io.iter_objects(export_prefix(table, snapshot_id)))
        if _old(objects + state, cutoff):
            for info in objects:
                _add(report, "uncommitted-part", info)
        else:
            report.kept_recent += len(objects)


def _manifest(io: FileIO, table: str, snapshot_id: str) -> Manifest:
    try:
        return catalog.load_manifest(io, table, snapshot_id)
    except ManifestError as e:
        raise type(e)(f"gc deleted nothing: {e.message}",
                      hint=f"which parts snapshot {snapshot_id} references cannot be known; "
                           f"run `ddblake verify {snapshot_id} --lake {io.uri}`, then move its "
                           "manifest out of the lake and run gc again") from e


def _sweep_state(io: FileIO, table: str, cutoff: datetime, report: GcReport) -> None:
    for snapshot_id in pending_exports(io, table):
        state = list(io.iter_objects(export_prefix(table, snapshot_id)))
        committed = io.exists(layout.snapshot_manifest(table, snapshot_id))
        if committed or _old(state, cutoff):
            for info in state:
                _add(report, "export-state", info)
        else:
            report.kept_recent += len(state)


def _abort_uploads(io: S3FileIO, cutoff: datetime, report: GcReport) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import translate

    prefix = f"{io.location.prefix}/" if io.location.prefix else ""
    kwargs: dict[str, Any] = {"Bucket": io.location.bucket, "Prefix": prefix}
    try:
        while True:
            page = io.client.list_multipart_uploads(**kwargs)
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    report.deleted.append({
                        "kind": "multipart-upload", "bucket": io.location.bucket,
                        "key": upload["Key"], "upload_id": upload["UploadId"], "bytes": 0,
                        "modified": upload["Initiated"].isoformat()})
            if not page.get("IsTruncated"):
                return
            kwargs["KeyMarker"] = page.get("NextKeyMarker", "")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker", "")
    except (ClientError, BotoCoreError) as e:
        error = translate(e, action="list multipart uploads in", resource=io.uri)
        raise StorageError(error.message, hint=error.hint) from e
