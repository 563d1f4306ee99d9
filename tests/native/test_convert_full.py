"""Full native exports -> snapshots, on fixtures in the real layout (anchors.md §2.7)."""

from __future__ import annotations

import copy
import gzip
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from exporter.export_reader import open_export
from exporter.import_export import import_export
from exporter.native import ConvertConfig
from lake import catalog, layout
from lake.fileio import LocalFileIO
from schemas.codec import decode_items
from schemas.dynamo_json import value_key
from schemas.errors import CorruptDataError, MissingDataError, UsageError
from schemas.keys import KeyAttribute, KeySchema
from tests.native.conftest import T0
from tests.native.export_builder import EMPTY_GZIP, ExportBuilder, b64md5

KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
SERIAL = ConvertConfig(workers=1)


def snapshot_items(lake: LocalFileIO, table: str, snapshot_id: str) -> list[dict[str, Any]]:
    manifest = catalog.load_manifest(lake, table, snapshot_id)
    items: list[dict[str, Any]] = []
    for part in manifest.parts:
        path = lake.root / layout.snapshot_part(table, snapshot_id, part.path)
        items += decode_items(pq.read_table(path))
    return items


def as_set(items: list[dict[str, Any]]) -> set[Any]:
    return {value_key(i) for i in items}


@pytest.mark.parametrize("prefix", [None, "backups/2026-01"])
def test_full_export_becomes_an_exact_snapshot(builder: ExportBuilder, bucket_dir: Path,
                                               lake_dir: Path, items: list[dict[str, Any]],
                                               prefix: str | None) -> None:
    built = builder.write(builder.full(copy.deepcopy(items), export_time=T0, prefix=prefix))
    assert built.summary["s3Prefix"] == prefix
    assert sum(1 for d in built.data.values() if d == EMPTY_GZIP) == 3
    lake = LocalFileIO(lake_dir)
    result = import_export(str(bucket_dir / built.export_dir), lake, keys=KEYS, config=SERIAL)
    assert result.kind == "snapshot" and result.created and result.items == 3
    manifest = catalog.load_manifest(lake, "Orders", result.snapshot_id or "")
    assert manifest.consistency.kind == "exact"
    assert manifest.consistency.at == "2026-01-14T10:18:50.622000Z"
    assert manifest.source.method == "export"
    assert manifest.source.export_arn == built.export_arn
    assert manifest.source.account == "111122223333"
    assert manifest.key_schema == KEYS
    assert manifest.totals.items == 3
    assert as_set(snapshot_items(lake, "Orders", manifest.snapshot_id)) == as_set(items)


def test_converting_the_same_export_again_creates_nothing(builder: ExportBuilder,
                                                          bucket_dir: Path, lake_dir: Path,
                                                          items: list[dict[str, Any]]) -> None:
    built = builder.write(builder.full(items, export_time=T0))
    lake = LocalFileIO(lake_dir)
    first = import_export(str(bucket_dir / built.export_dir), lake, keys=KEYS, config=SERIAL)
    again = import_export(str(bucket_dir / built.export_dir), lake, config=SERIAL)
    assert first.created and not again.created
    assert again.snapshot_id == first.snapshot_id
    assert catalog.snapshot_ids(lake, "Orders") == [first.snapshot_id]


def test_many_parts_on_worker_processes(builder: ExportBuilder, bucket_dir: Path,
                                        lake_dir: Path) -> None:
    from ddblake.sampledata import orders

    source = list(orders(3000))
    built = builder.write(builder.full(copy.deepcopy(source), export_time=T0,
                                       items_per_file=700, empty=2))
    lake = LocalFileIO(lake_dir)
    config = ConvertConfig(workers=2, part_item_bytes=64 * 1024)
    result = import_export(str(bucket_dir / built.export_dir), lake, keys=KEYS, config=config)
    manifest = catalog.load_manifest(lake, "Orders", result.snapshot_id or "")
    assert len(manifest.parts) > len(built.files)  # rolled parts inside files
    assert len({p.path for p in manifest.parts}) == len(manifest.parts)
    assert as_set(snapshot_items(lake, "Orders", manifest.snapshot_id)) == as_set(source)
    damaged = builder.full(copy.deepcopy(source[:50]), export_time=T0 + timedelta(hours=1),
                           items_per_file=10, empty=0)
    damaged.files[3]["md5Checksum"] = b64md5(b"x")  # fails inside a worker process
    builder.write(damaged)
    with pytest.raises(CorruptDataError, match="fails its MD5 check") as info:
        import_export(str(bucket_dir / damaged.export_dir), lake, config=config)
    assert info.value.hint == "the object is damaged or was replaced; request a new export"


def _corrupt_and_expect(builder: ExportBuilder, bucket_dir: Path, lake_dir: Path,
                        items: list[dict[str, Any]], damage: str) -> tuple[str, Exception]:
    built = builder.full(items, export_time=T0)
    target = next(k for k, f in zip(built.data, built.files, strict=True) if f["itemCount"])
    skip: list[str] = []
    if damage == "md5":
        built.files[0]["md5Checksum"] = b64md5(b"something else")
        target = built.files[0]["dataFileS3Key"]
    elif damage == "missing":
        skip = [target]
    elif damage == "truncated":  # the manifest agrees with the bytes: only gzip can tell
        built.data[target] = built.data[target][:-9]
        entry = next(f for f in built.files if f["dataFileS3Key"] == target)
        entry["md5Checksum"] = b64md5(built.data[target])
    elif damage == "count":
        entry = next(f for f in built.files if f["dataFileS3Key"] == target)
        entry["itemCount"] += 1
        built.summary["itemCount"] += 1
    builder.write(built, skip=skip)
    lake = LocalFileIO(lake_dir)
    with pytest.raises((CorruptDataError, MissingDataError)) as info:
        import_export(str(bucket_dir / built.export_dir), lake, keys=KEYS, config=SERIAL)
    assert catalog.snapshot_ids(lake, "Orders") == []  # nothing committed
    return target, info.value


@pytest.mark.parametrize(("damage", "error", "words"), [
    ("md5", CorruptDataError, "fails its MD5 check"),
    ("missing", MissingDataError, "does not exist"),
    ("truncated", CorruptDataError, "truncated"),
    ("count", CorruptDataError, "holds 3 items but manifest-files.json says 4"),
])
def test_damage_is_detected_and_named(builder: ExportBuilder, bucket_dir: Path, lake_dir: Path,
                                      items: list[dict[str, Any]], damage: str,
                                      error: type, words: str) -> None:
    target, raised = _corrupt_and_expect(builder, bucket_dir, lake_dir, items, damage)
    assert isinstance(raised, error)
    assert words in str(raised)
    assert target in str(raised)


@pytest.mark.parametrize("which", ["manifest-files", "manifest-summary"])
def test_manifest_checksums_are_verified(builder: ExportBuilder, bucket_dir: Path,
                                         items: list[dict[str, Any]], which: str) -> None:
    built = builder.write(builder.full(items, export_time=T0))
    (bucket_dir / built.export_dir / f"{which}.md5").write_text(b64md5(b"other"))
    with pytest.raises(CorruptDataError, match=f"does not match {which}.md5"):
        open_export(str(bucket_dir / built.export_dir))


def test_summary_count_must_match_the_file_list(builder: ExportBuilder, bucket_dir: Path,
                                                items: list[dict[str, Any]]) -> None:
    built = builder.full(items, export_time=T0)
    built.summary["itemCount"] = 2
    builder.write(built)
    with pytest.raises(CorruptDataError, match=r"lists 3 items but manifest-summary\.json says 2"):
        open_export(str(bucket_dir / built.export_dir))


def test_missing_summary_says_where_to_point(bucket_dir: Path) -> None:
    with pytest.raises(MissingDataError, match=r"manifest-summary\.json does not exist") as info:
        open_export(str(bucket_dir / "AWSDynamoDB" / "01768385930622-efd1a093"))
    assert "AWSDynamoDB/<ExportId>/" in (info.value.hint or "")


def test_ion_is_refused_clearly(builder: ExportBuilder, bucket_dir: Path, lake_dir: Path,
                                items: list[dict[str, Any]]) -> None:
    built = builder.write(builder.full(items, export_time=T0, fmt="ION"))
    with pytest.raises(UsageError, match="ION format") as info:
        import_export(str(bucket_dir / built.export_dir), LocalFileIO(lake_dir), keys=KEYS,
                      config=SERIAL)
    assert "DYNAMODB_JSON" in (info.value.hint or "")


def test_unknown_key_schema_asks_for_it(builder: ExportBuilder, bucket_dir: Path,
                                        lake_dir: Path, items: list[dict[str, Any]]) -> None:
    built = builder.write(builder.full(items, export_time=T0))
    with pytest.raises(UsageError, match="key schema of Orders is unknown") as info:
        import_export(str(bucket_dir / built.export_dir), LocalFileIO(lake_dir), config=SERIAL)
    assert "--partition-key" in (info.value.hint or "")


def test_wrong_key_schema_names_the_line(builder: ExportBuilder, bucket_dir: Path,
                                         lake_dir: Path, items: list[dict[str, Any]]) -> None:
    built = builder.write(builder.full(items, export_time=T0))
    wrong = KeySchema(KeyAttribute("id", "S"))
    with pytest.raises(CorruptDataError, match=r"line 1 of .* lacks a key attribute of id"):
        import_export(str(bucket_dir / built.export_dir), LocalFileIO(lake_dir), keys=wrong,
                      config=SERIAL)


def test_multi_member_gzip_is_read_whole(builder: ExportBuilder, bucket_dir: Path,
                                         lake_dir: Path, items: list[dict[str, Any]]) -> None:
    import orjson

    built = builder.full(items, export_time=T0, files=1, empty=0)
    key = built.files[0]["dataFileS3Key"]
    lines = [orjson.dumps({"Item": i}) + b"\n" for i in items]
    built.data[key] = gzip.compress(lines[0]) + gzip.compress(b"".join(lines[1:]))
    built.files[0]["md5Checksum"] = b64md5(built.data[key])
    builder.write(built)
    result = import_export(str(bucket_dir / built.export_dir), LocalFileIO(lake_dir), keys=KEYS,
                           config=SERIAL)
    assert result.items == 3


def test_pointing_at_the_bucket_names_the_exports_in_it(builder: ExportBuilder,
                                                        bucket_dir: Path,
                                                        items: list[dict[str, Any]]) -> None:
    built = builder.write(builder.full(items, export_time=T0, prefix="p"))
    with pytest.raises(MissingDataError, match="is not an export folder") as info:
        open_export(str(bucket_dir / "p"))
    assert f"{bucket_dir}/p/AWSDynamoDB/{built.export_id}/" in (info.value.hint or "")


def test_a_manifest_pointing_outside_the_export_is_refused(builder: ExportBuilder,
                                                           bucket_dir: Path,
                                                           items: list[dict[str, Any]]) -> None:
    from schemas.errors import ManifestError

    built = builder.full(items, export_time=T0)
    built.files[0]["dataFileS3Key"] = "AWSDynamoDB/../../secrets.json.gz"
    builder.write(built)
    with pytest.raises(ManifestError, match="outside the export's AWSDynamoDB/ folder"):
        open_export(str(bucket_dir / built.export_dir))
