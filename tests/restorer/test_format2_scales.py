"""Issue 14's story, restored: prices of different scales in different parts of a format 2
snapshot; ``--where "price >= 20"`` and ``price = 3.25`` select exactly the right items."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from exporter.describe import describe_table
from lake import layout
from lake.fileio import LocalFileIO
from lake.writers import SnapshotWriter
from restorer import RestoreConfig, restore
from schemas.dynamo_json import from_client
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Source
from tests.helpers import REGION, create_table, scan_all

PARTS = [("20", 4), ("3.25", 7), ("19.99", 3)]  # the first part decides the schema


@pytest.fixture
def lake(aws: None, lake_dir: Path) -> Path:
    ddb = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, "prices")
    description = describe_table(ddb, "prices")
    keys = KeySchema.from_description(description)
    writer = SnapshotWriter(LocalFileIO(lake_dir), "prices", layout.new_id(), keys)
    for seq, (price, count) in enumerate(PARTS):
        items = [{"pk": {"S": f"{price}-{i}"}, "price": {"N": price}} for i in range(count)]
        writer.write_part(layout.part_name(seq, 0), writer.encode(items))
    manifest = writer.commit(source=Source("prices", "scan"),
                             consistency=Consistency("exact", "2026-12-01T00:00:00Z",
                                                     "2026-12-01T00:00:00Z"),
                             table_description=description)
    assert manifest.format_version == 2
    return lake_dir


def restored(lake: Path, target: str, where: str) -> list[dict[str, Any]]:
    result = restore(RestoreConfig(lake=str(lake), target=target, where=where),
                     session=boto3.Session(region_name=REGION))
    assert result.ok
    return [from_client(i) for i in scan_all(boto3.client("dynamodb", region_name=REGION),
                                             target)]


@pytest.mark.parametrize(("where", "prices"), [
    ("price >= 20", {"20": 4}), ("price = 3.25", {"3.25": 7}),
    ("price > 3.25 AND price < 20", {"19.99": 3})])
def test_where_on_prices_of_many_scales_selects_exactly(lake: Path, where: str,
                                                        prices: dict[str, int]) -> None:
    items = restored(lake, "out" + str(abs(hash(where)) % 1000), where)
    got: dict[str, int] = {}
    for item in items:
        got[item["price"]["N"]] = got.get(item["price"]["N"], 0) + 1
    assert got == prices
