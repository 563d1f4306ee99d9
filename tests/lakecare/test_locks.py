"""Object Lock and SSE-KMS options for exports."""

from __future__ import annotations

from typing import Any

import pytest

from lake.fileio import FileIO, load_file_io
from lake.locks import export_options, lock_options, locked_until
from schemas.errors import UsageError
from tests.lakecare.lakehelp import make_snapshot


def test_lock_options_validate() -> None:
    with pytest.raises(UsageError, match="not one of GOVERNANCE, COMPLIANCE"):
        lock_options("FOREVER", 3)
    with pytest.raises(UsageError, match="at least 1"):
        lock_options("COMPLIANCE", 0)


def test_export_options(s3_lake: FileIO, local_lake: FileIO, s3: Any) -> None:
    assert export_options(s3_lake, storage_class="GLACIER_IR", kms_key="k").s3_args() == {
        "StorageClass": "GLACIER_IR", "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "k"}
    with pytest.raises(UsageError, match="does not have Object Lock"):
        export_options(s3_lake, lock_mode="GOVERNANCE", lock_days=3)
    with pytest.raises(UsageError, match="go together"):
        export_options(s3_lake, lock_mode="GOVERNANCE")
    with pytest.raises(UsageError, match="need a lake on S3"):
        export_options(local_lake, kms_key="k")
    s3.create_bucket(Bucket="worm", ObjectLockEnabledForBucket=True)
    worm = load_file_io("s3://worm/lake", s3_client=s3)
    options = export_options(worm, lock_mode="COMPLIANCE", lock_days=10)
    m = make_snapshot(worm, options=options, parts=1)
    key = f"orders/snapshots/{m.snapshot_id}/{m.parts[0].path}"
    until = locked_until(worm, key)
    assert until is not None and options.lock_until is not None
    assert abs((until - options.lock_until).total_seconds()) < 1
    assert locked_until(worm, f"orders/snapshots/{m.snapshot_id}/manifest.json") is None
