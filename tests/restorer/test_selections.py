"""--as-of and --deleted-between / --changed-between select exactly the expected items
(a snapshot plus a change log, written the way the exporter and stream consumer do)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from lake import layout
from lake.fileio import LocalFileIO
from lake.writers import SnapshotWriter, write_change_batch
from restorer import RestoreConfig, restore
from schemas.changes import ChangeRecord
from schemas.codec import encode_items
from schemas.dynamo_json import from_client, value_key
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Source
from tests.helpers import REGION, create_table, scan_all

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _us(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000


def item(i: int, v: str = "v1") -> dict[str, Any]:
    return {"pk": {"S": f"k{i:03d}"}, "v": {"S": v}, "n": {"N": f"{i}.0"}}


@pytest.fixture
def lake(aws: None, lake_dir: Path) -> dict[str, Any]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    description = create_table(ddb, "events")
    from exporter.describe import describe_table

    description = describe_table(ddb, "events")
    keys = KeySchema.from_description(description)
    io = LocalFileIO(lake_dir)
    base = [item(i) for i in range(30)]
    writer = SnapshotWriter(io, "events", layout.new_id(T0), keys)
    writer.write_part(layout.part_name(0, 0), encode_items(copy.deepcopy(base), keys))
    writer.commit(source=Source("events", "scan"), consistency=Consistency(
        "exact", _iso(T0), _iso(T0)), table_description=description)

    def rec(t: datetime, op: str, new: Any, old: Any, seq: str) -> ChangeRecord:
        key = {"pk": (new or old)["pk"]}
        return ChangeRecord(_us(t), op, key, new, old, "test", seq)  # type: ignore[arg-type]

    records = [rec(T0 + timedelta(seconds=10), "REMOVE", None, item(1), "1"),
               rec(T0 + timedelta(seconds=11), "REMOVE", None, item(2), "2"),
               rec(T0 + timedelta(seconds=12), "MODIFY", item(3, "v2"), item(3), "3"),
               rec(T0 + timedelta(seconds=20), "INSERT", item(100), None, "4")]
    write_change_batch(io, "events", keys, records, source={"kind": "test"},
                       positions={"shard": "4"}, batch_id=layout.new_id(T0 + timedelta(seconds=30)))
    return {"ddb": ddb, "base": base}


def _restore(lake_dir: Path, **kw: Any) -> set[Any]:
    result = restore(RestoreConfig(lake=str(lake_dir), target="out", **kw),
                     session=boto3.Session(region_name=REGION))
    assert result.ok
    return {value_key(from_client(i)) for i in scan_all(
        boto3.client("dynamodb", region_name=REGION), "out")}


def test_as_of_replays_changes(lake: dict[str, Any], lake_dir: Path) -> None:
    got = _restore(lake_dir, as_of=_iso(T0 + timedelta(seconds=15)))
    expected = [i for i in lake["base"] if i["pk"]["S"] not in ("k001", "k002", "k003")]
    expected.append(item(3, "v2"))
    assert got == {value_key(i) for i in expected}


def test_deleted_between_restores_the_last_images(lake: dict[str, Any],
                                                  lake_dir: Path) -> None:
    got = _restore(lake_dir, deleted_between=(_iso(T0 + timedelta(seconds=5)),
                                              _iso(T0 + timedelta(seconds=25))))
    assert got == {value_key(item(1)), value_key(item(2))}


def test_changed_between_restores_versions_before(lake: dict[str, Any],
                                                  lake_dir: Path) -> None:
    got = _restore(lake_dir, changed_between=(_iso(T0 + timedelta(seconds=5)),
                                              _iso(T0 + timedelta(seconds=15))))
    assert got == {value_key(item(1)), value_key(item(2)), value_key(item(3))}
