"""copy: parts first, manifest last, verified in the destination; damage is never copied."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from lake import catalog, layout
from lake.copy import copy_snapshot
from lake.fileio import FileIO, LocalFileIO, load_file_io
from lake.table_schemas import latest_schema
from lake.verify import verify_snapshot
from schemas.dynamo_json import from_client, value_key
from schemas.errors import AlreadyExistsError, CorruptDataError, UsageError
from tests.helpers import TEST_LAKE_FORMAT, run_cli, scan_all
from tests.lakecare.lakehelp import TABLE, make_snapshot, snapshot_orders


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
    assert (again.parts_copied, again.parts_skipped) == (0, 3)
    assert again.verification is not None and again.verification.ok


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
    schemas = len(list(local_lake.iter_objects(layout.table_schemas_prefix(TABLE))))
    assert len(keys) == 3 + schemas
    for key in keys:
        head = s3.head_object(Bucket="vault", Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]
        data_part = "/data/" in key
        assert head.get("StorageClass", "STANDARD") == ("STANDARD_IA" if data_part
                                                        else "STANDARD")


def schema_files(io: FileIO) -> dict[str, bytes]:
    prefix = layout.table_schemas_prefix(TABLE)
    return {i.key: io.read(i.key) for i in io.iter_objects(prefix)}


@pytest.mark.skipif(TEST_LAKE_FORMAT != 2, reason="table schemas are format 2's")
def test_copy_carries_the_table_schemas_and_the_copy_is_queryable_and_restorable(
        local_lake: FileIO, tmp_path: Path, ddb: Any,
        capsys: pytest.CaptureFixture[str]) -> None:
    m = make_snapshot(local_lake, items=30, parts=2)
    assert m.table_schema is not None and schema_files(local_lake)
    target = LocalFileIO(tmp_path / "copy")
    result = copy_snapshot(local_lake, target, m)
    assert schema_files(target) == schema_files(local_lake)
    assert result.schemas_copied == len(schema_files(local_lake))
    assert copy_snapshot(local_lake, target, m).schemas_copied == 0  # a re-run: all there
    # a later export into the copy evolves the same schema (not a second schema 1)
    later = make_snapshot(target, items=40, parts=1, start=30,
                          when=datetime.now(UTC) + timedelta(seconds=1))
    assert later.table_schema == latest_schema(local_lake, TABLE)
    sql = "SELECT count(*) AS n, sum(price) AS s, max(meta->>'$.M.src.S') AS src FROM items"
    answers = []
    for lake in (local_lake, target):
        code, out, err = run_cli(capsys, "query", "--lake", lake.uri, "--snapshot",
                                 m.snapshot_id, "--format", "json", sql)
        assert code == 0, err
        answers.append(json.loads(out))
    assert answers[0] == answers[1] and answers[0][0]["n"] == 30
    code, out, err = run_cli(capsys, "restore", TABLE, "--lake", target.uri, "--snapshot",
                             m.snapshot_id, "--to", "from-copy", "-q", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["written"] == 30
    restored = {value_key(from_client(i)) for i in scan_all(ddb, "from-copy")}
    assert restored == {value_key(i) for i in snapshot_orders(30, 2)}


@pytest.mark.skipif(TEST_LAKE_FORMAT != 2, reason="table schemas are format 2's")
def test_copy_refuses_a_destination_with_another_schema_history(
        local_lake: FileIO, tmp_path: Path) -> None:
    m = make_snapshot(local_lake, items=10, parts=1)
    target = LocalFileIO(tmp_path / "copy")
    [(key, data)] = list(schema_files(local_lake).items())[:1]
    target.write(key, data.replace(b'"number_scale": 6', b'"number_scale": 4')
                 if b'"number_scale": 6' in data else data.replace(b'"number_scale":6',
                                                                   b'"number_scale":4'))
    assert target.read(key) != data
    with pytest.raises(AlreadyExistsError, match="exists with other content"):
        copy_snapshot(local_lake, target, m)
    assert not target.exists(layout.snapshot_part(TABLE, m.snapshot_id, m.parts[0].path))
    assert catalog.snapshot_ids(target, TABLE) == []
