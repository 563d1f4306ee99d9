"""Cold storage: each snapshot's tier, moving old snapshots to a colder storage class, and
thawing archived parts (RestoreObject) before they can be read again.

Only data parts ever change class; manifests and state stay in STANDARD so the catalog stays
readable. GLACIER and DEEP_ARCHIVE objects cannot be read until restored; query and restore
call :func:`require_readable` first and refuse with a message naming ``ddblake thaw``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lake import catalog, layout
from lake.fileio import STORAGE_CLASSES, FileIO, ObjectInfo, S3FileIO
from lake.progress import NullListener, ProgressListener
from schemas.errors import ArchivedError, MissingDataError, UsageError
from schemas.manifest import Manifest

# Storage classes whose objects cannot be read until restored (RestoreObject).
COLD_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
THAW_TIERS = ("Standard", "Bulk", "Expedited")


def restore_state(header: str | None) -> str:
    """``none`` (never restored / copy expired), ``pending`` or ``done`` from HeadObject's
    ``Restore`` header (``ongoing-request="false", expiry-date="..."``)."""
    if not header:
        return "none"
    return "pending" if 'ongoing-request="true"' in header else "done"


def is_readable(info: ObjectInfo) -> bool:
    """Whether an object can be read now (not cold, or cold with a finished restore)."""
    return info.storage_class not in COLD_CLASSES or restore_state(info.restore) == "done"


def part_keys(manifest: Manifest) -> list[str]:
    return [layout.snapshot_part(manifest.table, manifest.snapshot_id, p.path)
            for p in manifest.parts]


def part_infos(io: FileIO, manifest: Manifest) -> list[ObjectInfo]:
    """HeadObject of every part (MissingDataError when one is absent)."""
    infos = []
    for key in part_keys(manifest):
        info = io.stat(key)
        if info is None:
            raise MissingDataError(f"part {io.full_uri(key)} of snapshot "
                                   f"{manifest.snapshot_id} is missing",
                                   hint=f"run `ddblake verify {manifest.snapshot_id} --lake "
                                        f"{io.uri}` to list every problem")
        infos.append(info)
    return infos


def snapshot_tier(io: FileIO, manifest: Manifest) -> str:
    """A short label of where a snapshot's parts are: ``STANDARD``, ``GLACIER``,
    ``GLACIER (thawed)``, ``GLACIER (thawing)``, ``MIXED (GLACIER 2, STANDARD 1)``, or
    ``local`` for a local lake."""
    if not isinstance(io, S3FileIO):
        return "local"
    if not manifest.parts:
        return "STANDARD"
    listed = {info.key: info
              for info in io.iter_objects(layout.snapshot_dir(manifest.table,
                                                             manifest.snapshot_id))}
    infos = []
    for key in part_keys(manifest):
        info = listed.get(key)
        if info is not None and info.storage_class in COLD_CLASSES:
            info = io.stat(key)  # the listing has no restore status
        infos.append(info or ObjectInfo(key, 0, datetime.now(UTC), "MISSING"))
    classes = Counter(info.storage_class for info in infos)
    if len(classes) > 1:
        return "MIXED (" + ", ".join(f"{c} {n}" for c, n in classes.most_common()) + ")"
    (name,) = classes
    if name in COLD_CLASSES:
        states = {restore_state(info.restore) for info in infos}
        if states == {"done"}:
            return f"{name} (thawed)"
        if "pending" in states:
            return f"{name} (thawing)"
    return name


def require_readable(io: FileIO, manifest: Manifest) -> None:
    """Raise ArchivedError (exit 6) when any part of the snapshot is archived and not thawed."""
    if not isinstance(io, S3FileIO) or not manifest.parts:
        return
    infos = part_infos(io, manifest)
    frozen = [info for info in infos if not is_readable(info)]
    if frozen:
        classes = ", ".join(sorted({info.storage_class for info in frozen}))
        raise ArchivedError(
            f"snapshot {manifest.snapshot_id} of {manifest.table} has {len(frozen)} of "
            f"{len(infos)} parts in cold storage ({classes}) that are not thawed",
            hint=f"thaw it first: ddblake thaw {manifest.snapshot_id} --lake {io.uri} --wait "
                 "(Standard tier: hours; Bulk: up to 12 h for GLACIER, 48 h for DEEP_ARCHIVE)")


def require_s3(io: FileIO, what: str) -> S3FileIO:
    if not isinstance(io, S3FileIO):
        raise UsageError(f"{what} needs a lake on S3; {io.uri} is a local folder",
                         hint="storage classes exist only in S3: use --lake s3://BUCKET/PREFIX")
    return io


def check_storage_class(storage_class: str) -> str:
    if storage_class not in STORAGE_CLASSES:
        raise UsageError(f"unknown storage class {storage_class!r}",
                         hint="use one of " + ", ".join(STORAGE_CLASSES))
    return storage_class


@dataclass
class ArchiveResult:
    storage_class: str
    snapshots: list[str] = field(default_factory=list)
    parts: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)


def archive_snapshots(io: FileIO, storage_class: str, older_than: timedelta, *,
                      table: str | None = None, now: datetime | None = None,
                      dry_run: bool = False,
                      listener: ProgressListener | None = None) -> ArchiveResult:
    """Move the parts of snapshots older than ``older_than`` to ``storage_class``
    (CopyObject onto the same key; multipart copy for big parts). Manifests stay in STANDARD.
    Encryption, Object Lock retention and tags of each part are carried over."""
    s3io = require_s3(io, "archive")
    check_storage_class(storage_class)
    listener = listener or NullListener()
    cutoff = (now or datetime.now(UTC)) - older_than
    result = ArchiveResult(storage_class)
    if not table:
        catalog.check_lake(io)
    tables = [catalog.require_table(io, table)] if table else catalog.list_tables(io)
    # Every manifest is read (and checked: a damaged one stops archive, exit 4) before the
    # first part moves.
    manifests = [catalog.load_manifest(io, name, sid) for name in tables
                 for sid in catalog.snapshot_ids(io, name) if layout.id_time(sid) <= cutoff]
    for manifest in manifests:
        if _archive_one(s3io, manifest, storage_class, dry_run, result, listener):
            result.snapshots.append(manifest.snapshot_id)
    return result


def _archive_one(io: S3FileIO, manifest: Manifest, storage_class: str, dry_run: bool,
                 result: ArchiveResult, listener: ProgressListener) -> bool:
    moved = False
    task = f"archive {manifest.snapshot_id}"
    listener.started(task, total=manifest.totals.bytes, unit="bytes")
    for key, info in zip(part_keys(manifest), part_infos(io, manifest), strict=True):
        if info.storage_class == storage_class:
            continue
        if not is_readable(info):
            result.skipped.append(f"{key}: in {info.storage_class}; thaw it before moving it")
            continue
        if not dry_run:
            change_storage_class(io, key, storage_class)
        moved = True
        result.parts += 1
        result.bytes += info.size
        listener.advanced(task, info.size, bytes=info.size)
    listener.finished(task)
    return moved


def change_storage_class(io: S3FileIO, key: str, storage_class: str) -> None:
    """Copy ``key`` onto itself in ``storage_class``, keeping encryption, lock and tags."""
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import translate

    bucket, s3_key = io.location.bucket, io._key(key)
    try:
        head = io.client.head_object(Bucket=bucket, Key=s3_key)
        tags = io.client.get_object_tagging(Bucket=bucket, Key=s3_key).get("TagSet", [])
        extra = _copy_args(head, tags, storage_class)
        config = TransferConfig(multipart_threshold=io.multipart_threshold,
                                multipart_chunksize=64 * 1024 * 1024)
        io.client.copy({"Bucket": bucket, "Key": s3_key}, bucket, s3_key, ExtraArgs=extra,
                       Config=config)
    except (ClientError, BotoCoreError) as e:
        raise translate(e, action=f"move to {storage_class}", resource=io.full_uri(key)) from e


def _copy_args(head: dict[str, Any], tags: list[dict[str, str]],
               storage_class: str) -> dict[str, Any]:
    from urllib.parse import urlencode

    extra: dict[str, Any] = {"StorageClass": storage_class, "MetadataDirective": "COPY",
                             "ChecksumAlgorithm": "SHA256"}
    if head.get("ServerSideEncryption") == "aws:kms":
        extra["ServerSideEncryption"] = "aws:kms"
        extra["SSEKMSKeyId"] = head["SSEKMSKeyId"]
    until = head.get("ObjectLockRetainUntilDate")
    if head.get("ObjectLockMode") and isinstance(until, datetime) and until > datetime.now(UTC):
        extra["ObjectLockMode"] = head["ObjectLockMode"]
        extra["ObjectLockRetainUntilDate"] = until
    if tags:
        extra["Tagging"] = urlencode([(t["Key"], t["Value"]) for t in tags])
        extra["TaggingDirective"] = "REPLACE"
    return extra


@dataclass
class ThawStatus:
    snapshot_id: str
    parts: int = 0
    cold: int = 0
    requested: int = 0
    pending: int = 0
    done: int = 0

    @property
    def ready(self) -> bool:
        return self.pending == 0 and self.done == self.cold

    def to_dict(self) -> dict[str, object]:
        return {"snapshot": self.snapshot_id, "parts": self.parts, "archived": self.cold,
                "requested": self.requested, "pending": self.pending, "thawed": self.done,
                "ready": self.ready}


@dataclass(frozen=True)
class ThawRequest:
    days: int = 7
    tier: str = "Standard"
    wait: bool = False
    timeout: float = 48 * 3600.0
    poll: float = 60.0

    def __post_init__(self) -> None:
        if self.tier not in THAW_TIERS:
            raise UsageError(f"unknown thaw tier {self.tier!r}",
                             hint="use Standard, Bulk or Expedited")
        if self.days < 1:
            raise UsageError(f"--days must be at least 1 (got {self.days})",
                             hint="it is how long the thawed copy stays readable")


def thaw_snapshot(io: FileIO, manifest: Manifest, request: ThawRequest, *,
                  listener: ProgressListener | None = None,
                  sleep: Callable[[float], None] = time.sleep,
                  clock: Callable[[], float] = time.monotonic) -> ThawStatus:
    """Request a restore of every archived part (never twice), then, with ``wait``, poll
    HeadObject's ``Restore`` header until every part is readable or the timeout passes
    (ArchivedError, exit 6: re-run the same command later)."""
    s3io = require_s3(io, "thaw")
    listener = listener or NullListener()
    keys = part_keys(manifest)
    cold = [(k, i) for k, i in zip(keys, part_infos(io, manifest), strict=True)
            if i.storage_class in COLD_CLASSES]
    if request.tier == "Expedited" and any(i.storage_class == "DEEP_ARCHIVE" for _, i in cold):
        raise UsageError("DEEP_ARCHIVE objects cannot be thawed with the Expedited tier",
                         hint="use --tier Standard (12 h) or Bulk (48 h)")
    status = ThawStatus(manifest.snapshot_id, parts=len(keys), cold=len(cold))
    for key, info in cold:
        if restore_state(info.restore) == "none":
            _request_restore(s3io, key, request)
            status.requested += 1
    _count(io, [k for k, _ in cold], status)
    task = f"thaw {manifest.snapshot_id}"
    listener.started(task, total=status.cold, unit="parts")
    listener.advanced(task, status.done)
    deadline = clock() + request.timeout
    while request.wait and status.pending and clock() < deadline:
        sleep(min(request.poll, max(deadline - clock(), 0.0)))
        before = status.done
        _count(io, [k for k, _ in cold], status)
        listener.advanced(task, status.done - before)
    listener.finished(task)
    if request.wait and not status.ready:
        raise ArchivedError(f"snapshot {manifest.snapshot_id}: {status.pending} of "
                            f"{status.cold} archived parts are still thawing after "
                            f"{request.timeout:.0f}s",
                            hint="run the same `ddblake thaw` again later; it does not "
                                 "request a part twice")
    return status


def _count(io: FileIO, keys: list[str], status: ThawStatus) -> None:
    states = Counter()  # type: Counter[str]
    for key in keys:
        info = io.stat(key)
        states[restore_state(info.restore) if info else "none"] += 1
    status.pending = states["pending"] + states["none"]
    status.done = states["done"]


def _request_restore(io: S3FileIO, key: str, request: ThawRequest) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import error_code, translate

    try:
        io.client.restore_object(
            Bucket=io.location.bucket, Key=io._key(key),
            RestoreRequest={"Days": request.days,
                            "GlacierJobParameters": {"Tier": request.tier}})
    except ClientError as e:
        if error_code(e) == "RestoreAlreadyInProgress":
            return
        raise translate(e, action="thaw", resource=io.full_uri(key)) from e
    except BotoCoreError as e:
        raise translate(e, action="thaw", resource=io.full_uri(key)) from e
