"""prune: keeps exactly the GFS set, plus the newest, locked and chain-base snapshots."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lake import catalog, layout
from lake.fileio import FileIO, load_file_io
from lake.locks import check_bucket_lock, lock_options
from lake.retention import RetentionPolicy, apply_prune, plan_prune
from lake.verify import verify_lake
from schemas.errors import UsageError
from tests.lakecare.lakehelp import TABLE, make_changes, make_snapshot

START = datetime(2026, 9, 1, 2, 30, tzinfo=UTC)


def _month_of_dailies(io: FileIO, days: int = 45) -> list[str]:
    ids = []
    for day in range(days):
        when = START + timedelta(days=day, minutes=7 * day)
        ids.append(make_snapshot(io, when=when, items=4, parts=1).snapshot_id)
        if day % 9 == 0:  # a second snapshot on some days: only the newer one is "daily"
            ids.append(make_snapshot(io, when=when + timedelta(hours=5), items=4,
                                     parts=1).snapshot_id)
    return ids


def _expected_gfs(ids: list[str], last: int, daily: int, weekly: int, monthly: int) -> set[str]:
    """Independent computation: group by period, take the newest of the newest groups."""
    keep = set(sorted(ids)[-last:]) if last else set()
    for count, period in ((daily, lambda t: t.date()),
                          (weekly, lambda t: t.isocalendar()[:2]),
                          (monthly, lambda t: (t.year, t.month))):
        groups: dict[Any, list[str]] = defaultdict(list)
        for sid in ids:
            groups[period(layout.id_time(sid))].append(sid)
        newest_groups = sorted(groups, key=lambda g: max(groups[g]))[-count:] if count else []
        keep |= {max(groups[g]) for g in newest_groups}
    return keep


def test_prune_keeps_exactly_the_gfs_set(local_lake: FileIO) -> None:
    ids = _month_of_dailies(local_lake)
    policy = RetentionPolicy(keep_last=2, keep_daily=7, keep_weekly=4, keep_monthly=3)
    expected = _expected_gfs(ids, 2, 7, 4, 3)
    assert 8 < len(expected) < len(ids) - 20  # the policy really prunes something
    plan = plan_prune(local_lake, policy)
    assert {d.snapshot_id for d in plan.kept} == expected
    assert {d.snapshot_id for d in plan.to_delete} == set(ids) - expected
    assert set(catalog.snapshot_ids(local_lake, TABLE)) == set(ids)  # planning deletes nothing
    result = apply_prune(local_lake, plan)
    assert sorted(result.deleted) == sorted(set(ids) - expected) and not result.leftovers
    assert set(catalog.snapshot_ids(local_lake, TABLE)) == expected
    assert all(r.ok for r in verify_lake(local_lake))
    for sid in result.deleted:  # nothing of a deleted snapshot is left behind
        assert list(local_lake.iter_objects(layout.snapshot_dir(TABLE, sid))) == []


def test_prune_never_deletes_the_newest(local_lake: FileIO) -> None:
    ids = _month_of_dailies(local_lake, days=5)
    plan = plan_prune(local_lake, RetentionPolicy(keep_monthly=1))
    newest = max(ids)
    assert [d.snapshot_id for d in plan.kept] == [newest]  # also the monthly pick
    assert "newest" in plan.kept[0].reasons


def test_prune_keeps_chain_bases(local_lake: FileIO) -> None:
    ids = sorted(make_snapshot(local_lake, when=START + timedelta(days=d), items=3,
                               parts=1).snapshot_id for d in range(10))
    # interval 1: changes during day 3 and 4 (contiguous); interval 2: day 8
    make_changes(local_lake, START + timedelta(days=3, hours=6))
    make_changes(local_lake, START + timedelta(days=4, hours=1))
    make_changes(local_lake, START + timedelta(days=8, hours=12))
    plan = plan_prune(local_lake, RetentionPolicy(keep_last=1))
    kept = {d.snapshot_id: d.reasons for d in plan.kept}
    assert set(kept) == {ids[3], ids[8], ids[9]}
    assert "chain base" in kept[ids[3]][0] and "chain base" in kept[ids[8]][0]


def test_prune_keeps_the_base_of_exact_as_of(local_lake: FileIO) -> None:
    """A stream batch says the log is complete from day 2.5 to 6.5 (lake.coverage); its
    events only start on day 5.5. Day 3 starts the exact as-of interval; day 5 is the
    newest snapshot before the batch's first event."""
    ids = sorted(make_snapshot(local_lake, when=START + timedelta(days=d), items=3,
                               parts=1).snapshot_id for d in range(10))
    us = lambda days: int((START + timedelta(days=days)).timestamp() * 1_000_000)  # noqa: E731
    make_changes(local_lake, START + timedelta(days=5.5),
                 source={"kind": "stream", "covered_from_us": us(2.5), "covered_to_us": us(6.5)})
    plan = plan_prune(local_lake, RetentionPolicy(keep_last=1))
    kept = {d.snapshot_id: d.reasons for d in plan.kept}
    assert set(kept) == {ids[3], ids[5], ids[9]}
    assert kept[ids[3]] == ("base of exact as-of from 2026-09-04 02:30",)


def test_policy_must_keep_something() -> None:
    with pytest.raises(UsageError, match="keeps nothing"):
        RetentionPolicy()
    with pytest.raises(UsageError, match="keep-daily"):
        RetentionPolicy(keep_daily=-1)


@pytest.fixture
def locked_lake(s3: Any) -> FileIO:
    s3.create_bucket(Bucket="worm", ObjectLockEnabledForBucket=True)
    return load_file_io("s3://worm/lake", s3_client=s3)


def test_prune_skips_locked_snapshots_and_s3_refuses_deleting_them(
        locked_lake: FileIO, s3: Any) -> None:
    check_bucket_lock(s3, "worm")
    old = make_snapshot(locked_lake, when=START, items=4, parts=2,
                        options=lock_options("GOVERNANCE", 30))
    plain = make_snapshot(locked_lake, when=START + timedelta(days=1), items=4, parts=1)
    newest = make_snapshot(locked_lake, when=START + timedelta(days=2), items=4, parts=1)
    plan = plan_prune(locked_lake, RetentionPolicy(keep_last=1))
    assert [d.snapshot_id for d in plan.to_delete] == [plain.snapshot_id]
    locked = next(d for d in plan.kept if d.snapshot_id == old.snapshot_id)
    assert locked.reasons[0].startswith("locked until")
    apply_prune(locked_lake, plan)
    assert catalog.snapshot_ids(locked_lake, TABLE) == [old.snapshot_id, newest.snapshot_id]
    # and the lock is real: S3 refuses to delete the locked part version
    key = "lake/" + layout.snapshot_part(TABLE, old.snapshot_id, old.parts[0].path)
    version = s3.head_object(Bucket="worm", Key=key)["VersionId"]
    with pytest.raises(ClientError) as caught:
        s3.delete_object(Bucket="worm", Key=key, VersionId=version)
    assert caught.value.response["Error"]["Code"] == "AccessDenied"


def test_bucket_without_object_lock_gets_a_clear_error(s3: Any) -> None:
    s3.create_bucket(Bucket="plain")
    with pytest.raises(UsageError, match="does not have Object Lock") as caught:
        check_bucket_lock(s3, "plain")
    assert "object-lock-enabled-for-bucket" in (caught.value.hint or "")


def test_bucket_default_retention_protects_every_snapshot(locked_lake: FileIO, s3: Any) -> None:
    """Objects locked only by the bucket's default retention (GetObjectRetention 500s in moto
    for them; HeadObject tells)."""
    s3.put_object_lock_configuration(
        Bucket="worm", ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 2}}})
    ids = [make_snapshot(locked_lake, when=START + timedelta(days=d), items=3,
                         parts=1).snapshot_id for d in range(3)]
    plan = plan_prune(locked_lake, RetentionPolicy(keep_last=1))
    assert plan.to_delete == []
    assert all(d.reasons[0].startswith(("locked until", "last")) for d in plan.kept)
    assert {d.snapshot_id for d in plan.kept} == set(ids)
