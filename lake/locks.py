"""S3 Object Lock (WORM) for lakes: options for writing locked parts, a check that a bucket
can hold locked objects, and reading how long an object stays locked.

Retention is read from HeadObject (``ObjectLockRetainUntilDate``, ``ObjectLockLegalHoldStatus``)
rather than GetObjectRetention, which moto answers with a 500 for objects locked only by the
bucket's default retention.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lake.fileio import FileIO, S3FileIO, WriteOptions
from schemas.errors import UsageError

LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
# A legal hold has no end date; treat it as "locked until further notice".
FOREVER = datetime.max.replace(tzinfo=UTC)


def lock_options(mode: str, days: int, *, now: datetime | None = None,
                 base: WriteOptions | None = None) -> WriteOptions:
    """Write options that lock every data part for ``days`` days in ``mode``."""
    if mode not in LOCK_MODES:
        raise UsageError(f"lock mode {mode!r} is not one of {', '.join(LOCK_MODES)}",
                         hint="GOVERNANCE can be lifted by privileged users; COMPLIANCE "
                              "cannot be lifted by anyone, even the root account")
    if days < 1:
        raise UsageError(f"--lock-days must be at least 1 (got {days})")
    base = base or WriteOptions()
    until = (now or datetime.now(UTC)) + timedelta(days=days)
    return WriteOptions(storage_class=base.storage_class, kms_key=base.kms_key,
                        lock_mode=mode, lock_until=until)


def check_bucket_lock(s3: Any, bucket: str) -> dict[str, Any]:
    """The bucket's Object Lock configuration; UsageError when Object Lock is not enabled."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import error_code, translate

    try:
        config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as e:
        if error_code(e) == "ObjectLockConfigurationNotFoundError":
            config = {}
        else:
            raise translate(e, action="read the Object Lock configuration of",
                            resource=f"s3://{bucket}") from e
    except BotoCoreError as e:
        raise translate(e, action="read the Object Lock configuration of",
                        resource=f"s3://{bucket}") from e
    if config.get("ObjectLockEnabled") != "Enabled":
        raise UsageError(f"bucket {bucket} does not have Object Lock enabled, so --lock-mode "
                         "cannot protect the backup",
                         hint="Object Lock can only be turned on for versioned buckets: create "
                              "one with `aws s3api create-bucket --bucket NAME "
                              "--object-lock-enabled-for-bucket` (or enable it on a versioned "
                              "bucket with put-object-lock-configuration) and use it as the lake")
    return dict(config)


def locked_until(io: FileIO, key: str, *, now: datetime | None = None) -> datetime | None:
    """Until when ``key`` is locked against deletion (None when it is not locked now).

    Local folders have no locks. A legal hold counts as locked with no end.
    """
    if not isinstance(io, S3FileIO):
        return None
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import error_code, translate

    try:
        head = io.client.head_object(Bucket=io.location.bucket, Key=io._key(key))
    except ClientError as e:
        if error_code(e) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise translate(e, action="read the lock of", resource=io.full_uri(key)) from e
    except BotoCoreError as e:
        raise translate(e, action="read the lock of", resource=io.full_uri(key)) from e
    if head.get("ObjectLockLegalHoldStatus") == "ON":
        return FOREVER
    until = head.get("ObjectLockRetainUntilDate")
    now = now or datetime.now(UTC)
    if isinstance(until, datetime) and until > now:
        return until
    return None


def first_lock(io: FileIO, keys: list[str], *,
               now: datetime | None = None) -> tuple[str, datetime] | None:
    """The first of ``keys`` that is locked now, and until when (None if none is)."""
    for key in keys:
        until = locked_until(io, key, now=now)
        if until is not None:
            return key, until
    return None


def export_options(io: FileIO, *, storage_class: str | None = None, kms_key: str | None = None,
                   lock_mode: str | None = None, lock_days: int | None = None,
                   now: datetime | None = None) -> WriteOptions:
    """The validated WriteOptions behind export's ``--storage-class``, ``--kms-key``,
    ``--lock-mode`` and ``--lock-days`` (checks that the bucket has Object Lock)."""
    from lake.archive import check_storage_class

    if storage_class:
        check_storage_class(storage_class)
    base = WriteOptions(storage_class=storage_class, kms_key=kms_key)
    if (lock_mode is None) != (lock_days is None):
        raise UsageError("--lock-mode and --lock-days go together",
                         hint="e.g. --lock-mode GOVERNANCE --lock-days 35")
    if (storage_class or kms_key or lock_mode) and not isinstance(io, S3FileIO):
        raise UsageError(f"storage classes, KMS keys and locks need a lake on S3; {io.uri} is "
                         "a local folder", hint="use --lake s3://BUCKET/PREFIX")
    if lock_mode is None or lock_days is None:
        return base
    assert isinstance(io, S3FileIO)
    check_bucket_lock(io.client, io.location.bucket)
    return lock_options(lock_mode, lock_days, now=now, base=base)
