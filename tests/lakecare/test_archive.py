"""archive moves old parts to a cold class (manifests stay STANDARD); thaw brings them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lake import catalog, layout
from lake.archive import (
    ThawRequest,
    archive_snapshots,
    part_keys,
    require_readable,
    snapshot_tier,
    thaw_snapshot,
)
from lake.fileio import FileIO, WriteOptions
from lake.progress import RecordingListener
from lake.verify import verify_snapshot
from schemas.errors import ArchivedError, UsageError
from tests.lakecare.conftest import BUCKET
from tests.lakecare.lakehelp import TABLE, make_snapshot

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _class_of(s3: Any, key: str) -> str:
    return str(s3.head_object(Bucket=BUCKET, Key=f"lake/{key}").get("StorageClass", "STANDARD"))


def test_archive_moves_old_parts_only_and_keeps_manifests_standard(
        s3_lake: FileIO, s3: Any) -> None:
    old = make_snapshot(s3_lake, when=NOW - timedelta(days=40), parts=2)
    new = make_snapshot(s3_lake, when=NOW - timedelta(days=2), parts=2)
    preview = archive_snapshots(s3_lake, "GLACIER", timedelta(days=30), now=NOW, dry_run=True)
    assert preview.snapshots == [old.snapshot_id] and preview.parts == 2
    assert snapshot_tier(s3_lake, old) == "STANDARD"  # the dry run changed nothing
    result = archive_snapshots(s3_lake, "GLACIER", timedelta(days=30), now=NOW)
    assert result.snapshots == [old.snapshot_id] and result.bytes == old.totals.bytes
    assert [_class_of(s3, k) for k in part_keys(old)] == ["GLACIER", "GLACIER"]
    assert _class_of(s3, layout.snapshot_manifest(TABLE, old.snapshot_id)) == "STANDARD"
    assert snapshot_tier(s3_lake, old) == "GLACIER"
    assert snapshot_tier(s3_lake, new) == "STANDARD"
    # the catalog still reads (manifests in STANDARD), but data reads refuse and name thaw
    assert [m.snapshot_id for m in catalog.list_snapshots(s3_lake, TABLE)] == [
        old.snapshot_id, new.snapshot_id]
    with pytest.raises(ArchivedError, match="2 of 2 parts in cold storage") as caught:
        require_readable(s3_lake, old)
    assert caught.value.exit_code == 6 and "ddblake thaw" in (caught.value.hint or "")
    require_readable(s3_lake, new)
    again = archive_snapshots(s3_lake, "GLACIER", timedelta(days=30), now=NOW)
    assert again.snapshots == [] and again.parts == 0  # idempotent


def test_archive_keeps_encryption_and_tags(s3_lake: FileIO, s3: Any) -> None:
    key_id = __import__("boto3").client("kms", region_name="us-east-1").create_key()[
        "KeyMetadata"]["KeyId"]
    m = make_snapshot(s3_lake, when=NOW - timedelta(days=40), parts=1,
                      options=WriteOptions(kms_key=key_id))
    part = f"lake/{part_keys(m)[0]}"
    s3.put_object_tagging(Bucket=BUCKET, Key=part,
                          Tagging={"TagSet": [{"Key": "ddblake-kind", "Value": "snapshot-data"}]})
    # GLACIER_IR: moto refuses GetObjectTagging on GLACIER/DEEP_ARCHIVE objects (S3 does not)
    archive_snapshots(s3_lake, "GLACIER_IR", timedelta(days=30), now=NOW)
    head = s3.head_object(Bucket=BUCKET, Key=part)
    assert head["StorageClass"] == "GLACIER_IR"
    assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]
    assert s3.get_object_tagging(Bucket=BUCKET, Key=part)["TagSet"] == [
        {"Key": "ddblake-kind", "Value": "snapshot-data"}]


def test_cold_storage_needs_s3(local_lake: FileIO) -> None:
    make_snapshot(local_lake)
    with pytest.raises(UsageError, match="needs a lake on S3"):
        archive_snapshots(local_lake, "GLACIER", timedelta(days=1))
    assert snapshot_tier(local_lake, catalog.find_snapshot(local_lake, "latest")) == "local"


def test_unknown_class_and_tier_are_refused(s3_lake: FileIO) -> None:
    with pytest.raises(UsageError, match="unknown storage class"):
        archive_snapshots(s3_lake, "COLD", timedelta(days=1))
    with pytest.raises(UsageError, match="unknown thaw tier"):
        ThawRequest(tier="Fast")


class PendingRestores:
    """moto finishes restores instantly: report the first ``n`` finished answers as pending."""

    def __init__(self, n: int) -> None:
        self.left = n

    def __call__(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Restore" in parsed and self.left > 0:
            self.left -= 1
            parsed["Restore"] = 'ongoing-request="true"'


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def _archived(s3_lake: FileIO) -> Any:
    m = make_snapshot(s3_lake, when=NOW - timedelta(days=60), parts=3)
    archive_snapshots(s3_lake, "GLACIER", timedelta(days=30), now=NOW)
    return m


def test_thaw_pending_then_done(s3_lake: FileIO, s3: Any) -> None:
    m = _archived(s3_lake)
    s3.meta.events.register("after-call.s3.HeadObject", PendingRestores(3 + 3))
    fake = FakeTime()
    listener = RecordingListener()
    first = thaw_snapshot(s3_lake, m, ThawRequest(days=2, tier="Bulk"), listener=listener)
    assert (first.cold, first.requested, first.pending, first.ready) == (3, 3, 3, False)
    assert snapshot_tier(s3_lake, m) == "GLACIER (thawing)"
    assert snapshot_tier(s3_lake, m) == "GLACIER (thawed)"  # the stub's budget is used up
    s3.meta.events.register("after-call.s3.HeadObject", PendingRestores(3 + 3 + 2))
    done = thaw_snapshot(s3_lake, m, ThawRequest(days=2, tier="Bulk", wait=True, poll=30),
                         listener=listener, sleep=fake.sleep, clock=fake.clock)
    assert done.requested == 0  # never asked twice
    assert done.ready and fake.sleeps == [30.0, 30.0]
    require_readable(s3_lake, m)
    assert verify_snapshot(s3_lake, TABLE, m.snapshot_id, deep=True).ok


def test_thaw_wait_gives_up_at_the_deadline(s3_lake: FileIO, s3: Any) -> None:
    m = _archived(s3_lake)
    s3.meta.events.register("after-call.s3.HeadObject", PendingRestores(10_000))
    fake = FakeTime()
    with pytest.raises(ArchivedError, match="3 of 3 archived parts are still thawing") as caught:
        thaw_snapshot(s3_lake, m, ThawRequest(wait=True, timeout=100, poll=30),
                      sleep=fake.sleep, clock=fake.clock)
    assert caught.value.exit_code == 6
    assert sum(fake.sleeps) == pytest.approx(100)
