"""lifecycle: S3 rules that move tagged snapshot data (never manifests) and abort stale MPUs."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from lake import layout
from lake.fileio import FileIO
from lake.lifecycle import Transition, apply_lifecycle, lifecycle_rules, tag_snapshot_parts
from schemas.errors import UsageError
from tests.lakecare.conftest import BUCKET
from tests.lakecare.lakehelp import TABLE, make_snapshot

TAG = {"Key": "ddblake-kind", "Value": "snapshot-data"}


def _tags(s3: Any, key: str) -> list[dict[str, str]]:
    return list(s3.get_object_tagging(Bucket=BUCKET, Key=f"lake/{key}")["TagSet"])


def test_data_parts_are_tagged_and_manifests_are_not(s3_lake: FileIO, s3: Any) -> None:
    m = make_snapshot(s3_lake, parts=2)
    for part in m.parts:
        assert _tags(s3, layout.snapshot_part(TABLE, m.snapshot_id, part.path)) == [TAG]
    assert _tags(s3, layout.snapshot_manifest(TABLE, m.snapshot_id)) == []


def test_lifecycle_rules_json_and_merge(s3_lake: FileIO, s3: Any) -> None:
    rules = lifecycle_rules(s3_lake, [Transition.parse("180:deep_archive"),
                                      Transition.parse("30:GLACIER")],
                            abort_days=3, noncurrent_days=14)
    assert rules == [
        {"ID": "ddblake:lake:snapshot-data", "Status": "Enabled",
         "Filter": {"And": {"Prefix": "lake/", "Tags": [TAG]}},
         "Transitions": [{"Days": 30, "StorageClass": "GLACIER"},
                         {"Days": 180, "StorageClass": "DEEP_ARCHIVE"}]},
        {"ID": "ddblake:lake:housekeeping", "Status": "Enabled", "Filter": {"Prefix": "lake/"},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 14}}]
    preview = apply_lifecycle(s3_lake, rules, dry_run=True)
    assert preview == {"Rules": rules}
    with pytest.raises(ClientError):  # the dry run wrote nothing
        s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)
    foreign = {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
               "Expiration": {"Days": 90}}
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET,
                                          LifecycleConfiguration={"Rules": [foreign]})
    apply_lifecycle(s3_lake, rules)
    apply_lifecycle(s3_lake, rules)  # re-running replaces ddblake's rules, keeps the others
    stored = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert [r["ID"] for r in stored] == ["logs", "ddblake:lake:snapshot-data",
                                         "ddblake:lake:housekeeping"]
    assert stored[1]["Transitions"] == rules[0]["Transitions"]


def test_existing_untagged_parts_get_tagged(s3_lake: FileIO, s3: Any) -> None:
    m = make_snapshot(s3_lake, parts=2)
    key = layout.snapshot_part(TABLE, m.snapshot_id, m.parts[0].path)
    s3.put_object_tagging(Bucket=BUCKET, Key=f"lake/{key}",
                          Tagging={"TagSet": [{"Key": "team", "Value": "data"}]})
    assert tag_snapshot_parts(s3_lake, dry_run=True) == 1
    assert tag_snapshot_parts(s3_lake) == 1
    assert _tags(s3, key) == [{"Key": "team", "Value": "data"}, TAG]
    assert tag_snapshot_parts(s3_lake) == 0


def test_bad_transitions_are_refused(local_lake: FileIO) -> None:
    with pytest.raises(UsageError, match="DAYS:CLASS"):
        Transition.parse("GLACIER")
    with pytest.raises(UsageError, match="only after 30 days"):
        Transition.parse("7:STANDARD_IA")
    with pytest.raises(UsageError, match="cannot transition"):
        Transition.parse("7:STANDARD")
    with pytest.raises(UsageError, match="needs a lake on S3"):
        lifecycle_rules(local_lake, [])
