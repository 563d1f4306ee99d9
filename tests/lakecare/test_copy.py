"""copy: parts first, manifest last, verified in the destination; damage is never copied."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from lake import catalog, layout
from lake.copy import copy_snapshot
from lake.fileio import FileIO, load_file_io
from lake.verify import verify_snapshot
from schemas.errors import CorruptDataError, UsageError
from tests.lakecare.lakehelp import TABLE, make_snapshot


@pytest.fixture
def second_lake(s3: Any) -> FileIO:
    """A bucket in another region, reached through its own client."""
    other = boto3.client("s3", region_name="eu-west-1")
    other.create_bucket(Bucket="dr-copy",
                        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return load_file_io("s3://dr-copy/backups", s3_client=other)


def test_copy_to_a_second_bucket_verifies(s3_lake: FileIO, second_lake: FileIO) -> None:
    m = make_snapshot(s3_lake, items=60, parts=3)
    result = copy_snapshot(s3_lake, second_lake, m)
    assert (result.parts_copied, result.parts_skipped) == (3, 0)
    assert result.verification is not None and result.verification.ok
    assert catalog.snapshot_ids(second_lake, TABLE) == [m.snapshot_id]
    assert verify_snapshot(second_lake, TABLE, m.snapshot_id, deep=True).ok
    again = copy_snapshot(s3_lake, second_lake, m, deep=True)  # a re-run sends nothing twice
    assert (again.parts_copied, again.parts_skipped) == (0, 3) and again.verification.ok


def test_copy_between_local_and_s3(local_lake: FileIO, s3_lake: FileIO) -> None:
    m = make_snapshot(local_lake, items=20, parts=2)
    assert copy_snapshot(local_lake, s3_lake, m, deep=True).to_dict()["ok"] is True


def test_copy_refuses_a_damaged_source(s3_lake: FileIO, second_lake: FileIO) -> None:
    m = make_snapshot(s3_lake, parts=2)
    key = layout.snapshot_part(TABLE, m.snapshot_id, m.parts[1].path)
    data = bytearray(s3_lake.read(key))
    data[-20] ^= 0x10
    s3_lake.write(key, bytes(data))
    with pytest.raises(CorruptDataError, match="refusing to copy"):
        copy_snapshot(s3_lake, second_lake, m)
    assert catalog.snapshot_ids(second_lake, TABLE) == []  # no manifest: nothing visible


def test_copy_to_itself_is_refused(local_lake: FileIO) -> None:
    m = make_snapshot(local_lake)
    with pytest.raises(UsageError, match="same lake"):
        copy_snapshot(local_lake, local_lake, m)


def test_copy_with_kms_encrypts_every_object(local_lake: FileIO, s3: Any) -> None:
    from lake.fileio import WriteOptions

    key_id = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    s3.create_bucket(Bucket="vault")
    target = load_file_io("s3://vault/x", s3_client=s3,
                          options=WriteOptions(kms_key=key_id, storage_class="STANDARD_IA"))
    m = make_snapshot(local_lake, parts=2)
    copy_snapshot(local_lake, target, m)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="vault")["Contents"]]
    assert len(keys) == 3
    for key in keys:
        head = s3.head_object(Bucket="vault", Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]
        data_part = "/data/" in key
        assert head.get("StorageClass", "STANDARD") == ("STANDARD_IA" if data_part
                                                        else "STANDARD")
