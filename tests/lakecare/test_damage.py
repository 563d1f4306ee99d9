"""Damaged, replaced and deleted parts through copy, drill and verify: nothing damaged is
copied or restored, and no part passes verify unchecked (moto for S3 and DynamoDB)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from lake import layout
from lake.commit import write_parquet
from lake.copy import copy_snapshot
from lake.fileio import FileIO, LocalFileIO, load_file_io
from lake.verify import verify_snapshot
from schemas.errors import CorruptDataError, MissingDataError
from schemas.manifest import Manifest
from tests.damage import POSITIONS, flip, offset
from tests.helpers import run_cli
from tests.lakecare.conftest import BUCKET
from tests.lakecare.lakehelp import TABLE, make_snapshot, snapshot_orders

drill_module = pytest.importorskip("restorer.drill")


def _key(m: Manifest, index: int) -> str:
    return layout.snapshot_part(m.table, m.snapshot_id, m.parts[index].path)


@pytest.fixture
def second_lake(tmp_path: Path) -> FileIO:
    return LocalFileIO(tmp_path / "copy")


@pytest.mark.parametrize("where", POSITIONS)
def test_copy_never_writes_a_damaged_part(any_lake: FileIO, second_lake: FileIO,
                                          where: str) -> None:
    m = make_snapshot(any_lake, items=40, parts=2)
    key = _key(m, 1)
    flip(any_lake, key, offset(any_lake.read(key), where), 0x08)
    with pytest.raises(CorruptDataError) as caught:
        copy_snapshot(any_lake, second_lake, m)
    assert any_lake.full_uri(key) in caught.value.message
    assert "refusing to copy" in caught.value.message and caught.value.exit_code == 4
    assert not second_lake.exists(key)
    assert not second_lake.exists(layout.snapshot_manifest(TABLE, m.snapshot_id))


def test_copy_of_a_deleted_part_is_missing_exit_5(any_lake: FileIO, second_lake: FileIO) -> None:
    m = make_snapshot(any_lake, items=40, parts=2)
    any_lake.delete(_key(m, 0))
    with pytest.raises(MissingDataError) as caught:
        copy_snapshot(any_lake, second_lake, m)
    assert any_lake.full_uri(_key(m, 0)) in caught.value.message
    assert caught.value.exit_code == 5
    assert not second_lake.exists(layout.snapshot_manifest(TABLE, m.snapshot_id))


def test_copy_rechecks_a_same_size_part_already_in_the_destination(
        local_lake: FileIO, second_lake: FileIO) -> None:
    """A re-run copy skips parts already there only when their bytes are the recorded ones;
    a same-size impostor is replaced, so the committed copy is whole."""
    m = make_snapshot(local_lake, items=40, parts=2)
    key = _key(m, 0)
    original = local_lake.read(key)
    damaged = bytearray(original)
    damaged[offset(original, "item-data-page")] ^= 0x02
    second_lake.write(key, bytes(damaged))
    result = copy_snapshot(local_lake, second_lake, m, deep=True)
    assert (result.parts_copied, result.parts_skipped) == (2, 0)
    assert second_lake.read(key) == original and result.verification is not None
    assert result.verification.ok
    again = copy_snapshot(local_lake, second_lake, m)
    assert (again.parts_copied, again.parts_skipped) == (0, 2)


@pytest.mark.parametrize("where", ["head-magic", "item-data-page", "dictionary-page",
                                   "footer-middle", "tail-magic"])
def test_drill_refuses_a_damaged_part(local_lake: FileIO, ddb: Any, where: str) -> None:
    m = make_snapshot(local_lake, items=40, parts=2)
    key = _key(m, 1)
    flip(local_lake, key, offset(local_lake.read(key), where), 0x20)
    with pytest.raises(CorruptDataError) as caught:
        drill_module.drill(drill_module.DrillConfig(lake=local_lake.uri))
    assert key in caught.value.message
    assert [d["outcome"] for d in drill_module.drills(local_lake, TABLE)] == ["failed"]
    assert ddb.list_tables()["TableNames"] == []


def test_drill_of_a_deleted_part_is_missing_exit_5(local_lake: FileIO, ddb: Any) -> None:
    m = make_snapshot(local_lake, items=40, parts=2)
    local_lake.delete(_key(m, 1))
    with pytest.raises(MissingDataError) as caught:
        drill_module.drill(drill_module.DrillConfig(lake=local_lake.uri))
    assert _key(m, 1) in caught.value.message and caught.value.exit_code == 5
    assert ddb.list_tables()["TableNames"] == []


def test_drill_restores_exactly_the_snapshot(local_lake: FileIO, ddb: Any) -> None:
    from schemas.dynamo_json import from_client, value_key
    from tests.helpers import scan_all

    make_snapshot(local_lake, items=50, parts=3)
    config = drill_module.DrillConfig(lake=local_lake.uri, target="kept", keep_table=True)
    assert drill_module.drill(config).passed
    written = {value_key(from_client(i)) for i in scan_all(ddb, "kept")}
    assert written == {value_key(i) for i in snapshot_orders(50, 3)}


def _plain_put(s3: Any, key: str, data: bytes, **extra: Any) -> None:
    """Replace an object as another tool would: PutObject without a SHA-256 checksum (S3
    and botocore store CRC32 by default)."""
    s3.put_object(Bucket=BUCKET, Key=f"lake/{key}", Body=data, **extra)
    head = s3.head_object(Bucket=BUCKET, Key=f"lake/{key}", ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in head


def test_verify_catches_a_part_replaced_by_a_plain_put(s3_lake: FileIO, s3: Any,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    m = make_snapshot(s3_lake, items=40, parts=2)
    key = _key(m, 1)
    data = bytearray(s3_lake.read(key))
    data[offset(bytes(data), "item-data-page")] ^= 0x01
    _plain_put(s3, key, bytes(data))
    result = verify_snapshot(s3_lake, TABLE, m.snapshot_id)  # structure, not --deep
    assert [(p.kind, p.key) for p in result.problems] == [("corrupt", key)]
    assert "sha256" in result.problems[0].detail and not result.ok
    code, _, err = run_cli(capsys, "verify", m.snapshot_id, "--lake", s3_lake.uri)
    assert code == 4 and key in err


def test_verify_hashes_an_unchanged_part_without_a_stored_sha256(s3_lake: FileIO,
                                                                 s3: Any) -> None:
    m = make_snapshot(s3_lake, items=40, parts=2)
    key = _key(m, 0)
    _plain_put(s3, key, s3_lake.read(key))
    result = verify_snapshot(s3_lake, TABLE, m.snapshot_id)
    assert result.ok, result.problems
    assert any(key in note and "hashed" in note for note in result.notes)


def test_verify_never_passes_an_archived_part_it_cannot_check(s3_lake: FileIO,
                                                              s3: Any) -> None:
    m = make_snapshot(s3_lake, items=40, parts=2)
    key = _key(m, 0)
    _plain_put(s3, key, s3_lake.read(key), StorageClass="GLACIER")
    result = verify_snapshot(s3_lake, TABLE, m.snapshot_id)
    assert [(p.kind, p.key) for p in result.problems] == [("archived", key)]
    assert "thaw" in result.problems[0].detail


def test_parts_carry_page_checksums_that_pyarrow_checks(tmp_path: Path) -> None:
    """The second layer: a byte flipped inside a data page fails the page's CRC on read
    (pyarrow with page_checksum_verification), independently of the part's sha256."""
    lake = LocalFileIO(tmp_path / "lake")
    m = make_snapshot(lake, items=60, parts=1)
    key = _key(m, 0)
    data = bytearray(lake.read(key))
    data[offset(bytes(data), "item-data-page-end")] ^= 0x01
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(bytes(data))
    with pytest.raises(OSError, match="CRC"):
        pq.ParquetFile(damaged, page_checksum_verification=True).read()
    pq.ParquetFile(lake.full_uri(key), page_checksum_verification=True).read()  # intact
    lake.write(key, bytes(data))
    problems = verify_snapshot(lake, TABLE, m.snapshot_id, deep=True).problems
    assert any("CRC" in p.detail for p in problems), problems


def test_write_parquet_sets_page_checksums(tmp_path: Path) -> None:
    """Written with checksums: a file written without them reads a flipped page silently
    (or fails later), ours fails on the CRC."""
    import pyarrow as pa

    table = pa.table({"x": [f"value-{i}" * 3 for i in range(2000)]})
    lake = LocalFileIO(tmp_path / "lake")
    write_parquet(lake, "t/part.parquet", table)
    plain = tmp_path / "plain.parquet"
    pq.write_table(table, plain, compression="zstd")
    for path, expect_crc in ((Path(lake.full_uri("t/part.parquet")), True), (plain, False)):
        data = bytearray(path.read_bytes())
        column = pq.ParquetFile(path).metadata.row_group(0).column(0)
        start = column.dictionary_page_offset or column.data_page_offset
        data[start + column.total_compressed_size - 2] ^= 0x01  # inside the last page's data
        with tempfile.NamedTemporaryFile(suffix=".parquet") as f:
            f.write(bytes(data))
            f.flush()
            try:
                pq.ParquetFile(f.name, page_checksum_verification=True).read()
                failed = ""
            except Exception as e:  # pyarrow raises many types on damaged pages
                failed = str(e)
        assert ("CRC" in failed) is expect_crc, failed


def test_s3_lake_drill_and_copy_refuse_damage(s3_lake: FileIO, s3: Any, ddb: Any,
                                              tmp_path: Path) -> None:
    m = make_snapshot(s3_lake, items=40, parts=2)
    key = _key(m, 0)
    data = bytearray(s3_lake.read(key))
    data[offset(bytes(data), "footer-middle")] ^= 0x04
    _plain_put(s3, key, bytes(data))
    with pytest.raises(CorruptDataError):
        copy_snapshot(s3_lake, load_file_io(str(tmp_path / "dest")), m)
    with pytest.raises(CorruptDataError):
        drill_module.drill(drill_module.DrillConfig(lake=s3_lake.uri))
    assert ddb.list_tables()["TableNames"] == []
