"""Table schemas stored in the lake: created once, racing writers agree, evolution retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from lake import table_schemas
from lake.fileio import FileIO, LocalFileIO, S3FileIO, S3Location
from schemas.errors import ManifestError
from schemas.keys import KeyAttribute, KeySchema
from schemas.table_schema import AttributeStats
from tests.helpers import REGION

KEYS = KeySchema(KeyAttribute("pk", "S"))


@pytest.fixture(params=["local", "s3"])
def io(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileIO]:
    if request.param == "local":
        yield LocalFileIO(tmp_path / "lake")
        return
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="lake-bucket")
        yield S3FileIO(S3Location("lake-bucket", "p"), client)


def seen(**names: str) -> AttributeStats:
    stats = AttributeStats()
    for name, tag in names.items():
        stats.add(name, tag, 1)
    return stats


def test_the_first_writer_creates_schema_one_and_the_others_read_it(io: FileIO) -> None:
    assert table_schemas.latest_schema(io, "orders") is None
    first = table_schemas.first_schema(io, "orders", KEYS, seen(a="S"))
    second = table_schemas.first_schema(io, "orders", KEYS, seen(b="N"))  # a racing worker
    assert first.schema_id == second.schema_id == 1
    assert second == first and [c.name for c in second.columns] == ["a"]
    assert [o.key for o in io.iter_objects("orders/schema/")] == ["orders/schema/00000001.json"]


def test_evolution_creates_the_next_schema_and_retries_on_a_newer_one(io: FileIO) -> None:
    one = table_schemas.first_schema(io, "orders", KEYS, seen(a="S"))
    two = table_schemas.evolve_schema(io, one, seen(b="N"))
    # A writer that still holds schema 1 adds c: it builds on schema 2, not on 1.
    three = table_schemas.evolve_schema(io, one, seen(c="BOOL"))
    assert (two.schema_id, three.schema_id) == (2, 3)
    assert [c.name for c in three.columns] == ["a", "b", "c"]
    assert table_schemas.evolve_schema(io, one, seen(a="S")) == three  # nothing new
    assert table_schemas.latest_schema(io, "orders") == three
    assert table_schemas.load_schema(io, "orders", 2) == two


def test_a_schema_stored_under_another_id_or_table_is_refused(io: FileIO) -> None:
    one = table_schemas.first_schema(io, "orders", KEYS, seen(a="S"))
    io.write(table_schemas.schema_key("orders", 5), one.to_bytes())
    with pytest.raises(ManifestError, match="not schema 5"):
        table_schemas.load_schema(io, "orders", 5)
    io.write(table_schemas.schema_key("orders", 6), b"{not json")
    with pytest.raises(ManifestError):
        table_schemas.latest_schema(io, "orders")


def test_a_first_part_without_attributes_still_stores_schema_one(io: FileIO) -> None:
    first = table_schemas.first_schema(io, "orders", KEYS, AttributeStats())
    assert first.schema_id == 1 and first.columns == ()
    assert table_schemas.first_schema(io, "orders", KEYS, seen(a="S")) == first


def test_a_new_tables_schema_1_comes_from_the_first_sample_of_items(io: FileIO) -> None:
    from lake.writers import SAMPLE_ITEMS, SnapshotWriter
    from schemas.rowcodec import decode_texts
    from schemas.table_schema import REST

    def item(i: int) -> dict[str, dict[str, str]]:
        late = {"late": {"S": f"v{i}"}} if i >= SAMPLE_ITEMS else {}
        return {"pk": {"S": f"k{i:05d}"}, "n": {"N": str(i)}, "tags": {"SS": ["b", "a"]}, **late}

    writer = SnapshotWriter(io, "orders", "s1", KEYS)
    part = writer.encode(item(i) for i in range(SAMPLE_ITEMS + 200))
    schema = table_schemas.load_schema(io, "orders", 1)
    assert [c.name for c in schema.columns] == ["n", "tags"]  # made before "late" was seen
    assert writer.schema == schema and part.schema_id == 1
    assert part.stats.tags == {"late": {"S"}} and part.stats.rows == {"late": 200}
    assert part.table.column(REST).null_count == SAMPLE_ITEMS  # "late" kept exactly
    assert part.table.column("tags").to_pylist()[0] == ["a", "b"]
    texts = decode_texts(part.table, schema)
    assert texts[-1] == ('{"late":{"S":"v1199"},"n":{"N":"1199"},"pk":{"S":"k01199"},'
                         '"tags":{"SS":["a","b"]}}')


def test_a_small_first_part_makes_schema_1_from_all_its_items(io: FileIO) -> None:
    from lake.writers import SnapshotWriter

    writer = SnapshotWriter(io, "orders", "s1", KEYS)
    writer.encode({"pk": {"S": f"k{i}"}, "a": {"S": "x"}, **({"b": {"N": "1"}} if i == 9 else {})}
                  for i in range(10))
    assert [c.name for c in table_schemas.load_schema(io, "orders", 1).columns] == ["a", "b"]
