"""Scan export against in-process moto: content, segments, manifest, parts."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

from exporter import ExportConfig, export_table
from lake import catalog, layout
from lake.fileio import LocalFileIO, load_file_io
from lake.progress import RecordingListener
from schemas.dynamo_json import Digest, canonical_bytes, from_client, items_equal, value_key
from schemas.errors import NotFoundError, UsageError
from tests.exporter.support import part_items, read_snapshot, typed_items
from tests.helpers import REGION, create_table, put_items, scan_all


def _session() -> boto3.Session:
    return boto3.Session(region_name=REGION)


def _export(lake: Path | str, table: str, **kwargs: Any) -> Any:
    kwargs.setdefault("workers", 1)
    return export_table(ExportConfig(table=table, lake=str(lake), **kwargs), session=_session())


def _client_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from schemas.dynamo_json import to_client

    return [to_client(i) for i in items]


def test_every_type_round_trips(ddb: Any, lake_dir: Path) -> None:
    create_table(ddb, "typed", sk=("sk", "N"))
    source = typed_items(40)
    put_items(ddb, "typed", _client_items(source))
    result = _export(lake_dir, "typed", segments=3, page_limit=7, target_part_mb=0.005)
    got = read_snapshot(LocalFileIO(lake_dir), result.manifest)
    expected = [from_client(i) for i in scan_all(ddb, "typed")]
    assert len(got) == 40
    assert {value_key(i) for i in got} == {value_key(i) for i in expected}
    by_key = {i["pk"]["S"]: i for i in got}
    for item in expected:
        assert items_equal(by_key[item["pk"]["S"]], item)
    assert by_key["user#0003"]["big"] == {"N": "12345678901234567890123456789.0123456"}


def test_segments_are_disjoint_and_complete(ddb: Any, lake_dir: Path) -> None:
    create_table(ddb, "seg")
    put_items(ddb, "seg", [{"pk": {"S": f"k{i:05d}"}, "v": {"N": str(i)}} for i in range(300)])
    all_keys = {f"k{i:05d}" for i in range(300)}
    for segments in (1, 2, 5, 16):
        result = _export(lake_dir, "seg", segments=segments, page_limit=40, target_part_mb=0.002)
        by_segment: dict[int, set[str]] = {}
        for path, items in part_items(LocalFileIO(lake_dir), result.manifest).items():
            segment = int(path.split("-")[1])
            keys = {i["pk"]["S"] for i in items}
            assert not keys & by_segment.get(segment, set()), "an item was written twice"
            by_segment.setdefault(segment, set()).update(keys)
        seen: set[str] = set()
        for keys in by_segment.values():
            assert not keys & seen, f"segments overlap with {segments} segments"
            seen |= keys
        assert seen == all_keys
        assert result.manifest.totals.items == 300


def test_manifest_records_source_window_parts_and_digest(ddb: Any, lake_dir: Path) -> None:
    create_table(ddb, "orders", sk=("sk", "S"), Tags=[{"Key": "team", "Value": "data"}])
    from ddblake.sampledata import orders

    source = list(orders(200))
    put_items(ddb, "orders", _client_items(source))
    listener = RecordingListener()
    result = export_table(ExportConfig(table="orders", lake=str(lake_dir), workers=1,
                                       segments=2, target_part_mb=0.02, page_limit=40),
                          session=_session(), listener=listener)
    m = catalog.find_snapshot(LocalFileIO(lake_dir), "latest", "orders")
    assert m == result.manifest
    assert m.source.method == "scan" and m.source.segments == 2
    assert m.source.table_arn and m.source.region == REGION
    assert m.consistency.kind == "fuzzy" and m.consistency.start <= m.consistency.end
    assert m.table_description["KeySchema"][0]["AttributeName"] == "pk"
    assert m.table_description["Tags"] == [{"Key": "team", "Value": "data"}]
    assert len(m.parts) > 2
    digest = Digest()
    for part in m.parts:
        path = lake_dir / layout.snapshot_part("orders", m.snapshot_id, part.path)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == part.sha256
        assert path.stat().st_size == part.bytes
        assert pq.read_metadata(path).num_rows == part.rows
    for item in scan_all(ddb, "orders"):
        digest.add_bytes(canonical_bytes(from_client(item)))
    assert m.totals.content_digest == digest.hex()
    assert m.totals.items == 200 == listener.total("export")
    assert not list(LocalFileIO(lake_dir).iter_objects(layout.state_key("orders", "")))
    assert {c.name for c in m.columns} >= {"status", "qty"}


def test_binary_keys_paginate(ddb: Any, lake_dir: Path) -> None:
    create_table(ddb, "bin", pk=("id", "B"), sk=("n", "N"))
    raw = [{"id": {"B": bytes([i, 255, 0])}, "n": {"N": str(-i)}, "x": {"S": "y"}}
           for i in range(60)]
    put_items(ddb, "bin", raw)
    # moto cannot split a binary partition key into segments (it calls .encode on bytes)
    result = _export(lake_dir, "bin", segments=1, page_limit=7, target_part_mb=0.001)
    got = read_snapshot(LocalFileIO(lake_dir), result.manifest)
    assert {value_key(i) for i in got} == {value_key(from_client(i)) for i in raw}


def test_empty_table_gives_empty_snapshot(ddb: Any, lake_dir: Path) -> None:
    create_table(ddb, "empty")
    result = _export(lake_dir, "empty", segments=4)
    assert result.manifest.totals.items == 0 and result.manifest.parts == ()
    assert catalog.snapshot_ids(LocalFileIO(lake_dir), "empty") == [result.snapshot_id]


def test_s3_lake(ddb: Any, s3: Any) -> None:
    s3.create_bucket(Bucket="lake")
    create_table(ddb, "tab1")
    put_items(ddb, "tab1", [{"pk": {"S": f"k{i}"}, "b": {"B": b"\x00\x01"}} for i in range(50)])
    result = _export("s3://lake/pre", "tab1", segments=2)
    io = load_file_io("s3://lake/pre", s3_client=s3)
    m = catalog.find_snapshot(io, "latest", "tab1")
    assert m.totals.items == 50 == result.manifest.totals.items
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"]]
    assert f"pre/tab1/snapshots/{m.snapshot_id}/manifest.json" in keys
    assert not [k for k in keys if "/state/" in k]


def test_missing_table_is_not_found(ddb: Any, lake_dir: Path) -> None:
    with pytest.raises(NotFoundError) as info:
        _export(lake_dir, "nope")
    assert "nope" in info.value.message and info.value.hint


def test_config_rejects_bad_values() -> None:
    with pytest.raises(UsageError, match="segments"):
        ExportConfig(table="abc", lake="x", segments=0)
    with pytest.raises(UsageError, match="max_rcu"):
        ExportConfig(table="abc", lake="x", max_rcu=-1)
    with pytest.raises(UsageError, match="table name"):
        ExportConfig(table="a", lake="x")
    with pytest.raises(UsageError, match="target_part_mb"):
        ExportConfig(table="abc", lake="x", target_part_mb=0)
    assert ExportConfig(table="abc", lake="x").resolve_segments(0, 2) == 4
    assert ExportConfig(table="abc", lake="x").resolve_segments(10 * 2**30, 2) == 80


def test_format2_exports_share_one_schema_and_evolve_it(ddb: Any, lake_dir: Path) -> None:
    """Parallel segments of a new table agree on schema 1 (its first part creates it); an
    attribute first seen by a later export gets a column for the export after that."""
    from lake.table_schemas import latest_schema

    create_table(ddb, "evolving")
    put_items(ddb, "evolving", [{"pk": {"S": f"k{i}"}, "n": {"N": str(i)}} for i in range(30)])
    first = _export(lake_dir, "evolving", segments=3, page_limit=4, target_part_mb=0.0002)
    assert first.manifest.format_version == 2 and len(first.manifest.parts) > 3
    assert first.manifest.table_schema.schema_id == 1
    put_items(ddb, "evolving", [{"pk": {"S": "new"}, "n": {"N": "1"}, "tag": {"S": "t"}}])
    second = _export(lake_dir, "evolving", segments=3, page_limit=4, target_part_mb=0.0002)
    assert second.manifest.table_schema.schema_id == 1  # `tag` kept exactly in _rest
    latest = latest_schema(LocalFileIO(lake_dir), "evolving")
    assert latest is not None and latest.schema_id == 2 and "tag" in latest.by_name
    third = _export(lake_dir, "evolving", segments=2)
    assert third.manifest.table_schema.schema_id == 2
    items = read_snapshot(LocalFileIO(lake_dir), third.manifest)
    assert {"pk": {"S": "new"}, "n": {"N": "1"}, "tag": {"S": "t"}} in items
    assert len(items) == 31
