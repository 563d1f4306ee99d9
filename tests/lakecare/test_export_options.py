"""export --storage-class / --kms-key / --lock-mode / --lock-days through the real exporter."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from ddblake.sampledata import orders
from exporter import ExportConfig, export_table
from lake import layout
from lake.archive import snapshot_tier
from lake.fileio import load_file_io
from lake.locks import locked_until
from lake.retention import RetentionPolicy, plan_prune
from schemas.dynamo_json import to_client
from schemas.errors import UsageError
from tests.helpers import REGION, create_table, put_items


def _export(lake: str, **kwargs: Any) -> Any:
    return export_table(ExportConfig(table="orders", lake=lake, workers=1, **kwargs),
                        session=boto3.Session(region_name=REGION))


def test_export_writes_cold_encrypted_locked_parts(ddb: Any, s3: Any) -> None:
    create_table(ddb, "orders", sk=("sk", "S"))
    put_items(ddb, "orders", [to_client(i) for i in orders(60)])
    s3.create_bucket(Bucket="worm", ObjectLockEnabledForBucket=True)
    key_id = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
    result = _export("s3://worm/lake", storage_class="STANDARD_IA", kms_key=key_id,
                     lock_mode="GOVERNANCE", lock_days=5)
    m = result.manifest
    io = load_file_io("s3://worm/lake", s3_client=s3)
    assert m.totals.items == 60 and snapshot_tier(io, m) == "STANDARD_IA"
    for part in m.parts:
        key = layout.snapshot_part("orders", m.snapshot_id, part.path)
        head = s3.head_object(Bucket="worm", Key=f"lake/{key}")
        assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]
        assert head["ObjectLockMode"] == "GOVERNANCE" and locked_until(io, key) is not None
        assert s3.get_object_tagging(Bucket="worm", Key=f"lake/{key}")["TagSet"] == [
            {"Key": "ddblake-kind", "Value": "snapshot-data"}]
    manifest_key = layout.snapshot_manifest("orders", m.snapshot_id)
    manifest = s3.head_object(Bucket="worm", Key=f"lake/{manifest_key}")
    assert manifest.get("StorageClass", "STANDARD") == "STANDARD"
    assert "ObjectLockMode" not in manifest and manifest["ServerSideEncryption"] == "aws:kms"
    second = _export("s3://worm/lake").manifest
    plan = plan_prune(io, RetentionPolicy(keep_last=1))
    assert [d.snapshot_id for d in plan.kept] == [second.snapshot_id, m.snapshot_id]
    assert plan.kept[1].reasons[0].startswith("locked until")


def test_lock_on_a_bucket_without_object_lock_fails_before_scanning(ddb: Any, s3: Any) -> None:
    create_table(ddb, "orders", sk=("sk", "S"))
    s3.create_bucket(Bucket="plain")
    with pytest.raises(UsageError, match="does not have Object Lock"):
        _export("s3://plain/lake", lock_mode="COMPLIANCE", lock_days=1)
    assert s3.list_objects_v2(Bucket="plain").get("KeyCount") == 0
