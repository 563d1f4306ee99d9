"""S3 lifecycle rules equivalent to ``ddblake archive``, run by S3 itself.

S3 lifecycle filters select objects by key prefix, tags and size only; they have no wildcard,
so a rule cannot say ``*/snapshots/*/data/``. A prefix rule on the lake would also move the
manifests to cold storage and make the catalog unreadable. So ddblake tags every snapshot data
part it writes with ``ddblake-kind=snapshot-data`` (manifests, change logs and state stay
untagged) and the transition rule filters on *lake prefix AND that tag*. Parts written before
tagging existed are tagged by :func:`tag_snapshot_parts` (``ddblake lifecycle`` does it).

A second rule, on the lake prefix alone, aborts incomplete multipart uploads (S3 does not
allow tag filters on that action), and can expire noncurrent versions in versioned buckets
(where deleted snapshots otherwise stay billed as noncurrent versions).

``PutBucketLifecycleConfiguration`` replaces a bucket's whole configuration, so the rules of
other owners are read first and kept; only rules whose ID starts with ``ddblake:`` for this
prefix are replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lake import catalog, layout
from lake.archive import require_s3
from lake.fileio import STORAGE_CLASSES, FileIO, S3FileIO
from lake.progress import NullListener, ProgressListener
from lake.writers import SNAPSHOT_DATA_TAG
from schemas.errors import UsageError

_MIN_DAYS = {"STANDARD_IA": 30, "ONEZONE_IA": 30}


@dataclass(frozen=True)
class Transition:
    days: int
    storage_class: str

    @classmethod
    def parse(cls, text: str) -> Transition:
        """``30:GLACIER`` -> Transition(30, "GLACIER")."""
        days, _, storage_class = text.partition(":")
        if not days.isdigit() or not storage_class:
            raise UsageError(f"bad transition {text!r}", hint="write DAYS:CLASS, e.g. 30:GLACIER")
        return cls(int(days), storage_class.upper())

    def __post_init__(self) -> None:
        if self.storage_class not in STORAGE_CLASSES or self.storage_class == "STANDARD":
            raise UsageError(f"cannot transition to {self.storage_class!r}",
                             hint="use one of " + ", ".join(STORAGE_CLASSES[1:]))
        if self.days < _MIN_DAYS.get(self.storage_class, 0):
            raise UsageError(f"S3 moves objects to {self.storage_class} only after 30 days "
                             f"(got {self.days})")


def _rule_ids(io: S3FileIO) -> tuple[str, str]:
    where = io.location.prefix or "/"
    return f"ddblake:{where}:snapshot-data", f"ddblake:{where}:housekeeping"


def lifecycle_rules(io: FileIO, transitions: list[Transition], *, abort_days: int = 7,
                    noncurrent_days: int | None = None) -> list[dict[str, Any]]:
    """The ddblake rules for this lake (a transition rule, and a housekeeping rule)."""
    s3io = require_s3(io, "lifecycle")
    if abort_days < 1:
        raise UsageError("--abort-multipart-days must be at least 1")
    data_id, housekeeping_id = _rule_ids(s3io)
    prefix = f"{s3io.location.prefix}/" if s3io.location.prefix else ""
    tag = {"Key": SNAPSHOT_DATA_TAG[0], "Value": SNAPSHOT_DATA_TAG[1]}
    rules: list[dict[str, Any]] = []
    ordered = sorted(transitions, key=lambda t: t.days)
    if ordered:
        data_filter = {"And": {"Prefix": prefix, "Tags": [tag]}} if prefix else {"Tag": tag}
        rules.append({"ID": data_id, "Status": "Enabled", "Filter": data_filter,
                      "Transitions": [{"Days": t.days, "StorageClass": t.storage_class}
                                      for t in ordered]})
    housekeeping: dict[str, Any] = {
        "ID": housekeeping_id, "Status": "Enabled", "Filter": {"Prefix": prefix},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": abort_days}}
    if noncurrent_days is not None:
        housekeeping["NoncurrentVersionExpiration"] = {"NoncurrentDays": noncurrent_days}
    rules.append(housekeeping)
    return rules


def current_rules(io: S3FileIO) -> list[dict[str, Any]]:
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import error_code, translate

    try:
        answer = io.client.get_bucket_lifecycle_configuration(Bucket=io.location.bucket)
    except ClientError as e:
        if error_code(e) == "NoSuchLifecycleConfiguration":
            return []
        raise translate(e, action="read the lifecycle rules of",
                        resource=f"s3://{io.location.bucket}") from e
    except BotoCoreError as e:
        raise translate(e, action="read the lifecycle rules of",
                        resource=f"s3://{io.location.bucket}") from e
    return list(answer.get("Rules", []))


def apply_lifecycle(io: FileIO, rules: list[dict[str, Any]], *,
                    dry_run: bool = False) -> dict[str, Any]:
    """The bucket's whole new lifecycle configuration (other rules kept, ddblake's rules for
    this prefix replaced); written unless ``dry_run``."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import translate

    s3io = require_s3(io, "lifecycle")
    ours = set(_rule_ids(s3io))
    kept = [r for r in current_rules(s3io) if r.get("ID") not in ours]
    configuration = {"Rules": kept + rules}
    if not dry_run:
        try:
            s3io.client.put_bucket_lifecycle_configuration(
                Bucket=s3io.location.bucket, LifecycleConfiguration=configuration)
        except (ClientError, BotoCoreError) as e:
            raise translate(e, action="write the lifecycle rules of",
                            resource=f"s3://{s3io.location.bucket}") from e
    return configuration


def tag_snapshot_parts(io: FileIO, *, table: str | None = None, dry_run: bool = False,
                       listener: ProgressListener | None = None) -> int:
    """Add the snapshot-data tag to every committed snapshot part that lacks it (existing
    tags are kept); return how many parts needed it."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import error_code, translate

    s3io = require_s3(io, "lifecycle")
    listener = listener or NullListener()
    tagged = 0
    for name in [catalog.require_table(io, table)] if table else catalog.list_tables(io):
        for manifest in catalog.list_snapshots(io, name):
            for part in manifest.parts:
                key = layout.snapshot_part(name, manifest.snapshot_id, part.path)
                args = {"Bucket": s3io.location.bucket, "Key": s3io._key(key)}
                try:
                    tags = s3io.client.get_object_tagging(**args).get("TagSet", [])
                    if {"Key": SNAPSHOT_DATA_TAG[0], "Value": SNAPSHOT_DATA_TAG[1]} in tags:
                        continue
                    tagged += 1
                    if not dry_run:
                        tags = [t for t in tags if t["Key"] != SNAPSHOT_DATA_TAG[0]]
                        tags.append({"Key": SNAPSHOT_DATA_TAG[0], "Value": SNAPSHOT_DATA_TAG[1]})
                        s3io.client.put_object_tagging(**args, Tagging={"TagSet": tags})
                except ClientError as e:
                    if error_code(e) == "InvalidObjectState":  # already cold (moto only)
                        continue
                    raise translate(e, action="tag", resource=io.full_uri(key)) from e
                except BotoCoreError as e:
                    raise translate(e, action="tag", resource=io.full_uri(key)) from e
            listener.advanced("tag parts", len(manifest.parts))
    return tagged
