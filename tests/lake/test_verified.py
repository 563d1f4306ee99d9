"""lake.verified: parts resolve to verified local copies only when a manifest read through
the view lists them; everything else is refused (local folders and moto S3)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lake import catalog, layout
from lake.fileio import FileIO, LocalFileIO, load_file_io
from lake.progress import RecordingListener
from lake.verified import Expected, VerifiedLake, fetch_verified
from queries import selections
from schemas.errors import ArchivedError, AwsError, CorruptDataError, StorageError
from schemas.manifest import Manifest
from tests.lakecare.lakehelp import TABLE, make_snapshot

BUCKET = "verified-unit"


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> FileIO:
    if request.param == "local":
        return LocalFileIO(tmp_path / "lake")
    s3 = request.getfixturevalue("s3")
    s3.create_bucket(Bucket=BUCKET)
    return load_file_io(f"s3://{BUCKET}/lake", s3_client=s3)


def _key(m: Manifest, index: int) -> str:
    return layout.snapshot_part(m.table, m.snapshot_id, m.parts[index].path)


def test_parts_resolve_to_verified_local_copies(lake: FileIO) -> None:
    m = make_snapshot(lake, items=30, parts=3)
    listener = RecordingListener()
    with VerifiedLake(lake) as view:
        assert view.full_uri(_key(m, 0)) == lake.full_uri(_key(m, 0))  # no manifest read yet
        manifest = catalog.find_snapshot(view, m.snapshot_id, TABLE)
        selection = selections.snapshot_selection(view, manifest)
        assert selection.setup == []
        assert view.fetch(listener) == m.totals.bytes
        view.require_verified(selection.paths)
        for index, path in enumerate(selection.paths):
            assert Path(path).parent == view.root
            assert Path(path).read_bytes() == lake.read(_key(m, index))
        assert view.fetch(listener) == 0  # nothing left to fetch
        root = view.root
    assert not root.exists()
    assert listener.total("verify parts") == m.totals.bytes


def test_a_path_no_manifest_lists_is_refused(lake: FileIO) -> None:
    m = make_snapshot(lake, items=20, parts=2)
    with VerifiedLake(lake) as view:
        catalog.find_snapshot(view, m.snapshot_id, TABLE)
        view.full_uri(_key(m, 0))
        view.fetch()
        stray = layout.snapshot_part(TABLE, m.snapshot_id, "data/not-listed.parquet")
        with pytest.raises(CorruptDataError, match="not verified"):
            view.require_verified([view.full_uri(stray)])
        with pytest.raises(CorruptDataError, match="not verified"):
            view.require_verified([view.full_uri(_key(m, 1))])  # listed, but never fetched


def test_two_manifests_disagreeing_about_a_part_are_refused(tmp_path: Path) -> None:
    lake = LocalFileIO(tmp_path / "lake")
    m = make_snapshot(lake, items=20, parts=1)
    with VerifiedLake(lake) as view:
        view.read(layout.snapshot_manifest(TABLE, m.snapshot_id))
        other = m.parts[0].__class__(m.parts[0].path, m.parts[0].rows, m.parts[0].bytes,
                                     "0" * 64, m.parts[0].digest)
        lying = m.__class__(**{**m.__dict__, "parts": (other,)})
        view._learn("elsewhere/manifest.json", lying.to_bytes())
        view.full_uri(_key(m, 0))
        with pytest.raises(CorruptDataError, match="two manifests"):
            view.fetch()


def test_the_view_is_read_only(tmp_path: Path) -> None:
    lake = LocalFileIO(tmp_path / "lake")
    with VerifiedLake(lake) as view:
        calls: list[Callable[[], None]] = [
            lambda: view.write("a", b""), lambda: view.create("a", b""),
            lambda: view.delete("a"), lambda: view.put_file("a", tmp_path / "x")]
        for call in calls:
            with pytest.raises(StorageError, match="read-only"):
                call()
    assert not (tmp_path / "lake" / "a").exists()


def test_first_failure_stops_the_other_downloads(tmp_path: Path) -> None:
    lake = LocalFileIO(tmp_path / "lake")
    m = make_snapshot(lake, items=80, parts=8)
    data = bytearray(lake.read(_key(m, 0)))
    data[100] ^= 1
    lake.write(_key(m, 0), bytes(data))
    with VerifiedLake(lake, workers=2) as view:
        selections.snapshot_selection(view, catalog.find_snapshot(view, m.snapshot_id, TABLE))
        with pytest.raises(CorruptDataError) as caught:
            view.fetch()
        assert lake.full_uri(_key(m, 0)) in caught.value.message
        assert all(not p.name.endswith(".partial") for p in view.root.iterdir())
        assert Path(view.full_uri(_key(m, 0))).exists() is False


def test_an_archived_part_is_named(s3_lake_glacier: tuple[FileIO, Manifest]) -> None:
    lake, m = s3_lake_glacier
    with VerifiedLake(lake) as view:
        selections.snapshot_selection(view, catalog.find_snapshot(view, m.snapshot_id, TABLE))
        with pytest.raises(ArchivedError) as caught:
            view.fetch()
    assert lake.full_uri(_key(m, 1)) in caught.value.message
    assert "ddblake thaw" in str(caught.value) and caught.value.exit_code == 6


@pytest.fixture
def s3_lake_glacier(s3: Any) -> tuple[FileIO, Manifest]:
    s3.create_bucket(Bucket=BUCKET)
    lake = load_file_io(f"s3://{BUCKET}/lake", s3_client=s3)
    m = make_snapshot(lake, items=20, parts=2)
    s3.put_object(Bucket=BUCKET, Key=f"lake/{_key(m, 1)}", Body=lake.read(_key(m, 1)),
                  StorageClass="GLACIER")
    return lake, m


def test_a_cut_stream_is_tried_again(tmp_path: Path) -> None:
    """A download cut short (AwsError from the stream) is retried; a mismatch is not."""
    lake = LocalFileIO(tmp_path / "lake")
    m = make_snapshot(lake, items=20, parts=1)
    calls = {"n": 0}
    lock = threading.Lock()

    class Flaky(LocalFileIO):
        def iter_chunks(self, key: str, size: int = 1 << 20) -> Any:
            with lock:
                calls["n"] += 1
                first = calls["n"] == 1
            for chunk in super().iter_chunks(key, 64):
                if first:
                    raise AwsError("connection reset")
                yield chunk

    dest = tmp_path / "copy.parquet"
    expected = Expected.of(_key(m, 0), m.parts[0], f"snapshot {m.snapshot_id}")
    fetch_verified(Flaky(lake.root), expected, dest)
    assert calls["n"] == 2 and dest.read_bytes() == lake.read(_key(m, 0))
    wrong = Expected(expected.key, expected.bytes, "0" * 64, expected.owner)
    with pytest.raises(CorruptDataError):
        fetch_verified(Flaky(lake.root), wrong, tmp_path / "never.parquet")
    assert calls["n"] == 3 and not (tmp_path / "never.parquet").exists()
