"""verify: every kind of damage is detected, named, and mapped to its exit code."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lake import layout
from lake.fileio import FileIO, LocalFileIO
from lake.verify import verify_lake, verify_snapshot, worst_error
from schemas.codec import ITEM
from schemas.errors import ArchivedError, CorruptDataError, ManifestError, MissingDataError
from schemas.manifest import Manifest
from schemas.models import dump_checked
from tests.lakecare.lakehelp import TABLE, make_changes, make_snapshot


def _part_key(m: Manifest, index: int = 0) -> str:
    return layout.snapshot_part(m.table, m.snapshot_id, m.parts[index].path)


def _manifest_key(m: Manifest) -> str:
    return layout.snapshot_manifest(m.table, m.snapshot_id)


def test_clean_snapshot_verifies_deep(any_lake: FileIO) -> None:
    m = make_snapshot(any_lake, items=30, parts=3)
    result = verify_snapshot(any_lake, TABLE, m.snapshot_id, deep=True)
    assert result.ok, result.problems
    assert (result.parts, result.rows) == (3, 30)
    assert result.error() is None


def test_byte_flip_is_corrupt_only_when_deep(any_lake: FileIO) -> None:
    m = make_snapshot(any_lake)
    key = _part_key(m)
    data = bytearray(any_lake.read(key))
    data[len(data) // 2] ^= 0x01
    any_lake.write(key, bytes(data))
    if isinstance(any_lake, LocalFileIO):  # same size, and no stored checksum to compare
        assert verify_snapshot(any_lake, TABLE, m.snapshot_id).ok
    result = verify_snapshot(any_lake, TABLE, m.snapshot_id, deep=True)
    assert any(p.kind == "corrupt" and p.key == key and "sha256" in p.detail
               for p in result.problems), result.problems
    error = result.error()
    assert isinstance(error, CorruptDataError) and error.exit_code == 4


def test_truncated_part_is_named(any_lake: FileIO) -> None:
    m = make_snapshot(any_lake)
    key = _part_key(m, 1)
    any_lake.write(key, any_lake.read(key)[:-10])
    result = verify_snapshot(any_lake, TABLE, m.snapshot_id)
    assert [(p.kind, p.key) for p in result.problems] == [("corrupt", key)]
    assert "truncated" in result.problems[0].detail
    assert isinstance(result.error(), CorruptDataError)


def test_missing_part_is_named_with_exit_5(any_lake: FileIO) -> None:
    m = make_snapshot(any_lake)
    key = _part_key(m)
    any_lake.delete(key)
    result = verify_snapshot(any_lake, TABLE, m.snapshot_id, deep=True)
    assert [(p.kind, p.key) for p in result.problems] == [("missing", key)]
    error = result.error()
    assert isinstance(error, MissingDataError) and error.exit_code == 5


def test_every_problem_is_listed_and_worst_wins(any_lake: FileIO) -> None:
    m = make_snapshot(any_lake, parts=3)
    any_lake.delete(_part_key(m, 0))
    any_lake.write(_part_key(m, 2), any_lake.read(_part_key(m, 2))[:100])
    result = verify_snapshot(any_lake, TABLE, m.snapshot_id)
    assert sorted(p.kind for p in result.problems) == ["corrupt", "missing"]
    assert isinstance(result.error(), CorruptDataError)


def _rewrite_manifest(io: FileIO, m: Manifest, change: dict[str, object],
                      resign: bool) -> None:
    document = orjson.loads(io.read(_manifest_key(m)))
    document.update(change)
    data = dump_checked(document) if resign else orjson.dumps(document)
    io.write(_manifest_key(m), data)


def test_wrong_manifest_hash(any_lake: FileIO) -> None:
    m = make_snapshot(any_lake)
    _rewrite_manifest(any_lake, m, {"created_at": "2020-01-01T00:00:00Z"}, resign=False)
    result = verify_snapshot(any_lake, TABLE, m.snapshot_id)
    assert [p.kind for p in result.problems] == ["manifest"]
    assert "self-checksum" in result.problems[0].detail
    error = result.error()
    assert isinstance(error, ManifestError) and error.exit_code == 4


def test_unknown_format_version(any_lake: FileIO) -> None:
    m = make_snapshot(any_lake)
    _rewrite_manifest(any_lake, m, {"format_version": 99}, resign=True)
    result = verify_snapshot(any_lake, TABLE, m.snapshot_id)
    assert [p.kind for p in result.problems] == ["manifest"]
    assert "format_version 99" in result.problems[0].detail


def test_truncated_manifest_is_found_by_all(any_lake: FileIO) -> None:
    good = make_snapshot(any_lake)
    bad = make_snapshot(any_lake)
    any_lake.write(_manifest_key(bad), any_lake.read(_manifest_key(bad))[:50])
    results = verify_lake(any_lake)
    assert [r.ok for r in results] == [good.snapshot_id < bad.snapshot_id,
                                       good.snapshot_id > bad.snapshot_id]
    assert "not valid JSON" in next(r for r in results if not r.ok).problems[0].detail


def test_tampered_row_with_consistent_part_hash(any_lake: FileIO) -> None:
    """A row edited and the part's file hash/size re-recorded: only the row hashes tell."""
    m = make_snapshot(any_lake, items=10, parts=1)
    key = _part_key(m)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp, "p.parquet")
        any_lake.get_file(key, local)
        table = pq.read_table(local)
        if ITEM in table.column_names:  # format 1: edit the item text
            texts = table.column(ITEM).combine_chunks().storage.to_pylist()
            texts[3] = texts[3].replace('"qty":{"N":"', '"qty":{"N":"9')
            column = pa.ExtensionArray.from_storage(pa.json_(), pa.array(texts, pa.string()))
            table = table.set_column(table.schema.get_field_index(ITEM), ITEM, column)
        else:  # format 2: edit a typed cell
            index = table.schema.get_field_index("qty")
            values = table.column("qty").to_pylist()
            values[3] += 9
            table = table.set_column(index, table.schema.field(index),
                                     pa.array(values, table.schema.field(index).type))
        pq.write_table(table, local, compression="zstd")
        data = local.read_bytes()
    any_lake.write(key, data)
    part = dict(orjson.loads(any_lake.read(_manifest_key(m)))["parts"][0])
    part.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    totals = dict(orjson.loads(any_lake.read(_manifest_key(m)))["totals"])
    totals["bytes"] = len(data)
    _rewrite_manifest(any_lake, m, {"parts": [part], "totals": totals}, resign=True)
    result = verify_snapshot(any_lake, TABLE, m.snapshot_id, deep=True)
    details = [p.detail for p in result.problems]
    assert any("1 rows whose sha256(_item) differs" in d for d in details), details


def test_change_batches_verify_and_detect_damage(any_lake: FileIO) -> None:
    make_snapshot(any_lake)
    batch = make_changes(any_lake, layout.id_time(layout.new_id()), count=4)
    results = verify_lake(any_lake, deep=True)
    assert [r.what for r in results] == ["snapshot", "changes"] and all(r.ok for r in results)
    key = layout.table_key(TABLE, batch.parts[0].path)
    data = bytearray(any_lake.read(key))
    data[len(data) // 3] ^= 0xFF
    any_lake.write(key, bytes(data))
    changes = verify_lake(any_lake, deep=True)[1]
    assert changes.problems and all(p.kind == "corrupt" for p in changes.problems)


def test_archived_part_needs_thaw_exit_6(s3_lake: FileIO, s3: object) -> None:
    m = make_snapshot(s3_lake)
    key = _part_key(m)
    bucket_key = f"lake/{key}"
    s3.copy_object(Bucket="lake-bucket", Key=bucket_key,  # type: ignore[attr-defined]
                   CopySource={"Bucket": "lake-bucket", "Key": bucket_key},
                   StorageClass="DEEP_ARCHIVE")
    assert verify_snapshot(s3_lake, TABLE, m.snapshot_id).ok
    result = verify_snapshot(s3_lake, TABLE, m.snapshot_id, deep=True)
    assert [(p.kind, p.key) for p in result.problems] == [("archived", key)]
    error = worst_error([result])
    assert isinstance(error, ArchivedError) and error.exit_code == 6
    assert "ddblake thaw" in (error.hint or "")


@pytest.mark.parametrize("deep", [False, True])
def test_missing_manifest_target_is_not_listed(local_lake: FileIO, deep: bool) -> None:
    """A snapshot folder without a manifest is not a snapshot: verify --all skips it."""
    m = make_snapshot(local_lake)
    local_lake.delete(_manifest_key(m))
    assert verify_lake(local_lake, deep=deep) == []


def test_unlisted_object_is_noted_not_failed(any_lake: FileIO) -> None:
    m = make_snapshot(any_lake)
    extra = layout.snapshot_part(TABLE, m.snapshot_id, "data/part-00009-00000.parquet")
    any_lake.write(extra, b"orphan from a crashed export")
    result = verify_snapshot(any_lake, TABLE, m.snapshot_id, deep=True)
    assert result.ok and len(result.notes) == 1 and extra in result.notes[0]


def test_snapshot_with_zero_parts_verifies(any_lake: FileIO) -> None:
    m = make_snapshot(any_lake, items=0, parts=1)
    assert m.parts == () and verify_snapshot(any_lake, TABLE, m.snapshot_id, deep=True).ok


def test_replaced_object_is_caught_by_the_s3_checksum_without_reading(s3_lake: FileIO) -> None:
    """On S3 the structure check compares S3's stored SHA-256 with the manifest: an object
    replaced by other bytes of the same size is found without downloading it."""
    m = make_snapshot(s3_lake)
    key = _part_key(m)
    data = bytearray(s3_lake.read(key))
    data[10] ^= 0x01
    s3_lake.write(key, bytes(data))
    result = verify_snapshot(s3_lake, TABLE, m.snapshot_id)
    assert [(p.kind, p.key) for p in result.problems] == [("corrupt", key)]
    assert "checksum" in result.problems[0].detail
