"""A hostile lake: a manifest with a correct self-checksum whose part path leaves the snapshot.

Every command that reads parts or keys refuses it with exit 4 and a hint, touches nothing
outside the lake (a sentinel folder next to it, another prefix and another bucket on S3),
writes nothing outside a copy's destination, and creates no DynamoDB table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lake import layout
from lake.fileio import LocalFileIO, load_file_io
from schemas.manifest import Manifest
from tests.helpers import run_cli as run
from tests.lakecare.conftest import BUCKET
from tests.lakecare.hostile import point_part_at, tree
from tests.lakecare.lakehelp import TABLE, make_snapshot

# How a hostile manifest may spell the sentinel's place (``outside`` is <tmp>/outside).
LOCAL_FORMS: dict[str, Callable[[Path], str]] = {
    "dot-dot": lambda outside: "../../../../outside/x.parquet",
    "through-data": lambda outside: "data/../../../../../outside/x.parquet",
    "absolute": lambda outside: str(outside / "x.parquet"),
    "file-uri": lambda outside: f"file://{outside / 'x.parquet'}",
}

# Command lines (lake, copy destination) -> argv; each must refuse.
COMMANDS: dict[str, Callable[[str, str], list[str]]] = {
    "query": lambda lake, dest: ["query", "SELECT count(*) AS n FROM items", "--lake", lake],
    "restore": lambda lake, dest: ["restore", TABLE, "--lake", lake, "--to", "orders-copy"],
    "verify --deep": lambda lake, dest: ["verify", "latest", "--lake", lake, "--deep"],
    "copy": lambda lake, dest: ["copy", "latest", "--lake", lake, "--to", dest],
    "gc": lambda lake, dest: ["gc", "--lake", lake, "--older-than", "0s"],
    "prune": lambda lake, dest: ["prune", "--lake", lake, "--keep-last", "1"],
    "drill": lambda lake, dest: ["drill", TABLE, "--lake", lake],
    "show": lambda lake, dest: ["show", "latest", "--lake", lake],
}


def _local_lake(tmp_path: Path, form: str) -> tuple[LocalFileIO, Manifest, Manifest]:
    """An old snapshot, and a latest one whose first part points at a real Parquet part
    (other items than its own) placed outside the lake."""
    lake, outside = tmp_path / "lake", tmp_path / "outside"
    lake.mkdir()
    outside.mkdir()
    io = LocalFileIO(lake)
    now = datetime.now(UTC)
    old = make_snapshot(io, when=now - timedelta(days=40), items=20, parts=1)
    latest = make_snapshot(io, when=now, items=30, parts=2, start=100)
    foreign = io.read(layout.snapshot_part(TABLE, old.snapshot_id, old.parts[0].path))
    (outside / "x.parquet").write_bytes(foreign)
    (outside / "keep.txt").write_text("keep me")
    point_part_at(io, latest, LOCAL_FORMS[form](outside), foreign)
    return io, old, latest


@pytest.mark.parametrize("form", sorted(LOCAL_FORMS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_an_escaping_part_path(tmp_path: Path, ddb: Any, form: str,
                                                     command: str,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    io, _, _ = _local_lake(tmp_path, form)
    before = tree(tmp_path)
    dest = tmp_path / "dest"
    code, out, err = run(capsys, *COMMANDS[command](io.uri, str(dest)))
    assert code == 4, (command, form, err)
    assert "part path" in err and "hint:" in err and "Traceback" not in err
    assert "n\n" not in out  # no query result
    assert tree(tmp_path, skip=(dest,)) == before  # nothing outside (or inside) touched
    assert not dest.exists() or tree(dest) == {}
    assert ddb.list_tables()["TableNames"] == []


def test_copy_never_writes_outside_its_destination(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The worst case of the issue: a lake someone else controls, copied to a folder of ours;
    ``data/../../../..`` from the destination's snapshot folder is the destination's parent."""
    io, _, latest = _local_lake(tmp_path, "dot-dot")
    point_part_at(io, latest, "data/../../../../../escaped.parquet", b"PAR1 hostile")
    dest = tmp_path / "dest"
    code, _, err = run(capsys, "copy", "latest", "--lake", io.uri, "--to", str(dest))
    assert code == 4 and "contains '..'" in err
    assert not (tmp_path / "escaped.parquet").exists() and not dest.exists()


def test_an_old_hostile_snapshot_is_skipped_by_query_and_flagged_by_snapshots(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    io = LocalFileIO(tmp_path / "lake")
    now = datetime.now(UTC)
    old = make_snapshot(io, when=now - timedelta(days=40), items=20, parts=1)
    latest = make_snapshot(io, when=now, items=30, parts=2, start=100)
    point_part_at(io, old, "../../../../outside/x.parquet", b"x")
    code, out, err = run(capsys, "query", "SELECT count(*) AS n FROM items", "--lake", io.uri,
                         "--format", "csv")
    assert code == 0 and out.splitlines() == ["n", "30"]
    assert f"snapshot {old.snapshot_id} of {TABLE} is damaged and was skipped" in err
    code, out, err = run(capsys, "query", "SELECT snapshot_id FROM snapshots ORDER BY 1",
                         "--lake", io.uri, "--format", "csv")
    assert code == 0 and out.split() == ["snapshot_id", latest.snapshot_id]
    code, out, err = run(capsys, "snapshots", "--lake", io.uri, "--format", "csv")
    assert code == 0 and f"{old.snapshot_id},,,DAMAGED" in out.replace('"', "")
    assert f"warning: snapshot {old.snapshot_id} of {TABLE} is damaged" in err
    code, _, err = run(capsys, "query", "SELECT 1", "--lake", io.uri,
                       "--snapshot", old.snapshot_id)
    assert code == 4 and "contains '..'" in err


# --- S3 (moto): another prefix of the lake's bucket, and another bucket ----------------------

S3_FORMS = {"dot-dot": "../../../../outside/x.parquet", "other-bucket": "s3://other-bucket/x.parquet"}
S3_COMMANDS: dict[str, list[str]] = {
    "archive": ["archive", "--older-than", "30d", "--storage-class", "GLACIER"],
    "thaw": ["thaw", "latest", "--tier", "Bulk"],
    "copy": ["copy", "latest", "--to", f"s3://{BUCKET}/dest"],
    "verify --deep": ["verify", "latest", "--deep"],
    "gc": ["gc", "--older-than", "0s"],
    "prune": ["prune", "--keep-last", "1"],
    "query": ["query", "SELECT count(*) FROM items"],
}


def _objects(s3: Any, bucket: str) -> dict[str, tuple[str, str, str | None]]:
    """key -> (ETag, storage class, restore status) of every object of ``bucket``."""
    found = {}
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        head = s3.head_object(Bucket=bucket, Key=obj["Key"])
        found[obj["Key"]] = (head["ETag"], head.get("StorageClass", "STANDARD"),
                             head.get("Restore"))
    return found


@pytest.mark.parametrize("form", sorted(S3_FORMS))
@pytest.mark.parametrize("command", sorted(S3_COMMANDS))
def test_an_s3_lake_refuses_too(s3: Any, form: str, command: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket="other-bucket")
    io = load_file_io(f"s3://{BUCKET}/lake", s3_client=s3)
    old = make_snapshot(io, when=datetime.now(UTC) - timedelta(days=40), items=20, parts=1)
    foreign = io.read(layout.snapshot_part(TABLE, old.snapshot_id, old.parts[0].path))
    s3.put_object(Bucket=BUCKET, Key="outside/x.parquet", Body=foreign)
    s3.put_object(Bucket="other-bucket", Key="x.parquet", Body=foreign)
    point_part_at(io, old, S3_FORMS[form], foreign)
    before = {b: _objects(s3, b) for b in (BUCKET, "other-bucket")}
    code, _, err = run(capsys, *S3_COMMANDS[command], "--lake", f"s3://{BUCKET}/lake")
    assert code == 4, (command, form, err)
    assert "part path" in err and "hint:" in err and "Traceback" not in err
    assert {b: _objects(s3, b) for b in (BUCKET, "other-bucket")} == before
