"""Incremental native exports -> change batches, and the chain (anchors.md §2.7 items 2-7)."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from exporter.export_chain import load_chain
from exporter.import_export import import_export
from exporter.incremental import micros
from exporter.native import ConvertConfig
from lake import catalog, layout
from lake.coverage import coverage
from lake.fileio import LocalFileIO
from schemas.dynamo_json import parse_item, value_key
from tests.native.conftest import T0, i1_lines, i2_lines, key_of
from tests.native.export_builder import ExportBuilder, change_line, gzip_lines

from .test_convert_full import KEYS

SERIAL = ConvertConfig(workers=1)
W = timedelta(minutes=15)


def changes(lake: LocalFileIO, table: str = "Orders") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for batch in catalog.list_change_batches(lake, table):
        for part in batch.parts:
            rows += pq.read_table(lake.root / layout.table_key(table, part.path)).to_pylist()
    return rows


def _full_then(builder: ExportBuilder, bucket: Path, lake: LocalFileIO,
               items: list[dict[str, Any]]) -> None:
    full = builder.write(builder.full(copy.deepcopy(items), export_time=T0))
    import_export(str(bucket / full.export_dir), lake, keys=KEYS, config=SERIAL)


def test_chain_of_full_inserts_and_updates(builder: ExportBuilder, bucket_dir: Path,
                                           lake_dir: Path, items: list[dict[str, Any]]) -> None:
    lake = LocalFileIO(lake_dir)
    _full_then(builder, bucket_dir, lake, items)
    lines1, inserted = i1_lines(T0)
    i1 = builder.write(builder.incremental(lines1, start=T0, end=T0 + W))
    assert all(k.startswith("AWSDynamoDB/data/") for k in i1.data)
    r1 = import_export(str(bucket_dir / i1.export_dir), lake, config=SERIAL)
    assert r1.kind == "changes" and r1.items == 2
    lines2, updated = i2_lines(T0 + W, items, inserted)
    i2 = builder.write(builder.incremental(lines2, start=T0 + W, end=T0 + 2 * W))
    r2 = import_export(str(bucket_dir / i2.export_dir), lake, config=SERIAL)
    assert r2.items == 3
    rows = changes(lake)
    by_op = sorted((r["_op"], r["_pk"], r["_sk"]) for r in rows)
    assert by_op == [("INSERT", "user#3", "order#0009"), ("INSERT", "user#4", "order#0001"),
                     ("MODIFY", "user#2", "order#0001"), ("REMOVE", "user#1", "order#0002"),
                     ("REMOVE", "user#3", "order#0009")]
    modify = next(r for r in rows if r["_op"] == "MODIFY")
    new = parse_item(modify["_new"])
    assert "number" not in new and value_key(new) == value_key(updated)
    assert "number" in parse_item(modify["_old"])
    removes = [r for r in rows if r["_op"] == "REMOVE"]
    assert all(r["_new"] is None and r["_old"] is not None for r in removes)
    assert {r["_source"] for r in rows} == {f"export:{i1.export_arn}", f"export:{i2.export_arn}"}
    chain = load_chain(lake, "Orders")
    assert chain is not None and chain.base_snapshot is not None
    assert chain.end == T0 + 2 * W and len(chain.links) == 2


def test_new_image_view(builder: ExportBuilder, bucket_dir: Path, lake_dir: Path,
                        items: list[dict[str, Any]]) -> None:
    lake = LocalFileIO(lake_dir)
    _, inserted = i1_lines(T0)
    lines, _ = i2_lines(T0, items, inserted, view="NEW_IMAGE")
    assert all("OldImage" not in line for line in lines)
    built = builder.write(builder.incremental(lines, start=T0, end=T0 + W, view="NEW_IMAGE"))
    import_export(str(bucket_dir / built.export_dir), lake, keys=KEYS, config=SERIAL)
    ops = sorted((r["_op"], r["_pk"], r["_new"] is None, r["_old"] is None)
                 for r in changes(lake))
    assert ops == [("MODIFY", "user#2", False, True), ("REMOVE", "user#1", True, True),
                   ("REMOVE", "user#3", True, True)]


def test_empty_incremental_still_covers_its_window(builder: ExportBuilder, bucket_dir: Path,
                                                   lake_dir: Path,
                                                   items: list[dict[str, Any]]) -> None:
    lake = LocalFileIO(lake_dir)
    _full_then(builder, bucket_dir, lake, items)
    empty = builder.write(builder.incremental([], start=T0, end=T0 + W, files=4, empty=4))
    assert empty.summary["itemCount"] == 0 and empty.summary["billedSizeBytes"] == 10000000
    result = import_export(str(bucket_dir / empty.export_dir), lake, config=SERIAL)
    assert result.items == 0 and len(result.batches) == 1
    batches = catalog.list_change_batches(lake, "Orders")
    assert [b.rows for b in batches] == [0]
    chain = load_chain(lake, "Orders")
    assert chain is not None and chain.end == T0 + W


def test_orphans_in_the_shared_data_folder_are_never_read(builder: ExportBuilder,
                                                          bucket_dir: Path,
                                                          lake_dir: Path) -> None:
    lake = LocalFileIO(lake_dir)
    lines, _ = i1_lines(T0)
    built = builder.write(builder.incremental(lines, start=T0, end=T0 + W))
    orphan = {"pk": {"S": "ghost"}, "sk": {"S": "x"}}
    (bucket_dir / "AWSDynamoDB/data/zzzzzzzzzzzzzzzzzzzzzzzzzz.json.gz").write_bytes(
        gzip_lines([change_line(T0, key_of(orphan), new=orphan)]))
    import_export(str(bucket_dir / built.export_dir), lake, keys=KEYS, config=SERIAL)
    assert sorted(r["_pk"] for r in changes(lake)) == ["user#3", "user#4"]


def test_gap_in_the_chain_is_imported_and_shown(builder: ExportBuilder, bucket_dir: Path,
                                                lake_dir: Path,
                                                items: list[dict[str, Any]]) -> None:
    lake = LocalFileIO(lake_dir)
    _full_then(builder, bucket_dir, lake, items)
    lines1, inserted = i1_lines(T0)
    i1 = builder.write(builder.incremental(lines1, start=T0, end=T0 + W))
    import_export(str(bucket_dir / i1.export_dir), lake, config=SERIAL)
    lines2, _ = i2_lines(T0 + 2 * W, items, inserted)
    late = builder.write(builder.incremental(lines2, start=T0 + 2 * W, end=T0 + 3 * W))
    result = import_export(str(bucket_dir / late.export_dir), lake, config=SERIAL)
    assert result.items == 3 and len(changes(lake)) == 5
    hole = (micros(T0 + W), micros(T0 + 2 * W) - 1)
    assert [(g.start_us, g.end_us, g.reason) for g in coverage(lake, "Orders").gaps] == [
        (*hole, "no change log")]
    assert any("has a gap from 2026-01-14T10:33:50.622+00:00 to "
               "2026-01-14T10:48:50.621+00:00 (no change log)" in w for w in result.warnings)
    chain = load_chain(lake, "Orders")
    assert chain is not None and chain.end == T0 + 3 * W and len(chain.links) == 2


def test_overlap_and_recreated_table_are_imported(builder: ExportBuilder, bucket_dir: Path,
                                                  lake_dir: Path) -> None:
    lake = LocalFileIO(lake_dir)
    lines, _ = i1_lines(T0)
    first = builder.write(builder.incremental(lines, start=T0, end=T0 + W))
    import_export(str(bucket_dir / first.export_dir), lake, keys=KEYS, config=SERIAL)
    overlap = builder.write(builder.incremental([], start=T0 + W / 2, end=T0 + 2 * W))
    import_export(str(bucket_dir / overlap.export_dir), lake, keys=KEYS, config=SERIAL)
    cov = coverage(lake, "Orders")
    assert [(i.start_us, i.end_us) for i in cov.log] == [(micros(T0), micros(T0 + 2 * W) - 1)]
    assert cov.gaps == ()
    builder.table_id = "00000000-0000-0000-0000-000000000000"
    recreated = builder.write(builder.incremental([], start=T0 + 2 * W, end=T0 + 3 * W))
    import_export(str(bucket_dir / recreated.export_dir), lake, keys=KEYS, config=SERIAL)
    at = micros(T0 + 2 * W)
    gaps = coverage(lake, "Orders").gaps
    assert [(g.start_us, g.end_us) for g in gaps] == [(at - 1, at - 1)]
    assert gaps[0].reason.startswith("table re-created (tableId 4f1c2a9e-")
    chain = load_chain(lake, "Orders")
    assert chain is not None and chain.table_id == builder.table_id and len(chain.links) == 3


def test_reconverting_an_incremental_is_idempotent(builder: ExportBuilder, bucket_dir: Path,
                                                   lake_dir: Path) -> None:
    lake = LocalFileIO(lake_dir)
    lines, _ = i1_lines(T0)
    built = builder.write(builder.incremental(lines, start=T0, end=T0 + W))
    first = import_export(str(bucket_dir / built.export_dir), lake, keys=KEYS, config=SERIAL)
    again = import_export(str(bucket_dir / built.export_dir), lake, keys=KEYS, config=SERIAL)
    assert first.created and not again.created
    assert again.batches == first.batches
    assert len(changes(lake)) == 2


def test_malformed_incremental_line_is_named(builder: ExportBuilder, bucket_dir: Path,
                                             lake_dir: Path) -> None:
    bad = {"Metadata": {"WriteTimestampMicros": {"N": "1"}}, "Keys": {"pk": {"S": "a"}}}
    built = builder.write(builder.incremental([bad], start=T0, end=T0 + W, files=1, empty=0))
    from schemas.errors import CorruptDataError

    with pytest.raises(CorruptDataError, match=r"line 1 of .*AWSDynamoDB/data/"):
        import_export(str(bucket_dir / built.export_dir), LocalFileIO(lake_dir), keys=KEYS,
                      config=SERIAL)
