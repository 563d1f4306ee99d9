"""gc: orphans of crashed exports go, committed snapshots and recent work stay."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from exporter import ExportConfig, export_table
from exporter.garbage import collect_garbage
from exporter.state import pending_exports
from lake import catalog, layout
from lake.fileio import LocalFileIO, load_file_io
from schemas.errors import CredentialsError
from tests.exporter.support import FaultInjector
from tests.helpers import REGION, create_table, put_items


def _age(root: Path, days: float) -> None:
    when = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (when, when))


def _interrupted(lake: str, session: boto3.Session) -> None:
    session.events.register_first("before-send.dynamodb.Scan",
                                  FaultInjector(after=4, forever="expired"))
    with pytest.raises(CredentialsError):
        export_table(ExportConfig(table="gced", lake=lake, workers=1, segments=2,
                                  page_limit=10, target_part_mb=0.0005), session=session)


@pytest.fixture
def gced(ddb: Any) -> None:
    create_table(ddb, "gced")
    put_items(ddb, "gced", [{"pk": {"S": f"k{i}"}, "v": {"S": "v" * 40}} for i in range(80)])


def test_gc_removes_old_orphans_keeps_committed_and_recent(gced: None, lake_dir: Path) -> None:
    session = boto3.Session(region_name=REGION)
    good = export_table(ExportConfig(table="gced", lake=str(lake_dir), workers=1, segments=2),
                        session=session)
    _interrupted(str(lake_dir), boto3.Session(region_name=REGION))
    io = LocalFileIO(lake_dir)
    [orphan] = pending_exports(io, "gced")
    # a stray part in the committed snapshot's folder (an attempt that was not reused)
    stray = lake_dir / layout.snapshot_part("gced", good.snapshot_id, layout.part_name(9, 0))
    stray.write_bytes(b"junk")

    recent = collect_garbage(io, dry_run=True)
    assert recent.deleted == [] and recent.kept_recent > 0

    _age(lake_dir, 2)
    listed = collect_garbage(io, dry_run=True)
    kinds = {d["kind"] for d in listed.deleted}
    assert kinds == {"uncommitted-part", "export-state", "unreferenced-part"}
    assert all(orphan in d["key"] or d["key"].endswith("part-00009-00000.parquet")
               for d in listed.deleted)
    assert stray.exists() and pending_exports(io, "gced") == [orphan]  # dry run: untouched

    done = collect_garbage(io)
    assert len(done.deleted) == len(listed.deleted)
    assert not stray.exists()
    assert pending_exports(io, "gced") == []
    assert not list(io.iter_objects(layout.snapshot_dir("gced", orphan)))
    manifest = catalog.load_manifest(io, "gced", good.snapshot_id)  # still whole
    for part in manifest.parts:
        assert io.exists(layout.snapshot_part("gced", good.snapshot_id, part.path))
    assert collect_garbage(io).deleted == []


def test_gc_on_s3_aborts_stale_multipart_uploads(gced: None, s3: Any) -> None:
    s3.create_bucket(Bucket="gc-lake")
    _interrupted("s3://gc-lake/lake", boto3.Session(region_name=REGION))
    upload = s3.create_multipart_upload(Bucket="gc-lake", Key="lake/gced/snapshots/x/data/p")
    io = load_file_io("s3://gc-lake/lake", s3_client=s3)
    later = datetime.now(UTC) + timedelta(days=2)
    listed = collect_garbage(io, dry_run=True, now=later)
    assert {d["kind"] for d in listed.deleted} == {"uncommitted-part", "export-state",
                                                   "multipart-upload"}
    collect_garbage(io, now=later)
    assert s3.list_multipart_uploads(Bucket="gc-lake").get("Uploads", []) == []
    left = [o["Key"] for o in s3.list_objects_v2(Bucket="gc-lake").get("Contents", [])]
    # Only the table schema the interrupted export created stays: schemas are table
    # metadata (they only grow; the next export writes against it), never garbage.
    assert left == ["lake/gced/schema/00000001.json"]
    assert upload["UploadId"]
