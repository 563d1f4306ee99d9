"""Restore units that select their own rows (restorer.slices), without Ray: each reads only
its parts, yields ``_item_hash`` next to ``_item``, is idempotent, and refuses a lake that
changed since the plan or a damaged part before writing anything."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ddblake import sampledata
from exporter.describe import describe_table
from lake.fileio import LocalFileIO
from restorer.config import RestoreConfig
from restorer.select import Query, plan_selection, resolve_source
from restorer.slices import (
    BY_KEY_HASH,
    BY_PART,
    Selecting,
    SliceTask,
    count_unit,
    part_groups,
    plan_slices,
    select_rows,
    sliced_query,
)
from restorer.spool import Spool, read_unit, read_unit_batches
from restorer.units import UnitContext, UnitTask, restore_unit
from runtime.executor import Kit, new_run_id
from schemas.dynamo_json import from_client, value_key
from schemas.errors import CorruptDataError, UsageError
from tests.helpers import create_table, scan_all
from tests.restorer.lakehelp import snapshot_items


def test_part_groups_keep_parts_whole() -> None:
    parts = {"a": 30, "b": 30, "c": 70, "d": 10, "e": 10}
    assert part_groups(parts, 60) == [("a", "b"), ("c",), ("d", "e")]
    assert part_groups({}, 60) == [()]


@pytest.fixture
def lake(ddb: Any, tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    create_table(ddb, "susrc", sk=("sk", "S"))
    items = list(sampledata.orders(120))
    snapshot_items(tmp_path, "susrc", items, describe_table(ddb, "susrc"), parts=4)
    return tmp_path, items


def _kit() -> Kit:
    return Kit(new_run_id())  # its own clients' cache


def test_units_by_part_read_only_their_parts(lake: tuple[Path, list[Any]],
                                             tmp_path: Path) -> None:
    path, _ = lake
    io = LocalFileIO(path)
    config = RestoreConfig(lake=str(path), target="x", where="true")
    planned = plan_selection(io, config)
    slices = plan_slices(planned, BY_PART, unit_rows=60)
    assert [len(s.parts) for s in slices] == [2, 2]
    selecting = Selecting(config, None, None)
    counted = [count_unit(SliceTask(selecting, s), _kit()) for s in slices]
    assert sum(c.rows for c in counted) == 120 and all(c.rows == 60 for c in counted)
    # the same units cut by key hash, each reading every part, select the same rows
    hashed = plan_slices(planned, BY_KEY_HASH, unit_rows=60, units=3)
    assert sum(count_unit(SliceTask(selecting, s), _kit()).rows for s in hashed) == 120
    assert sum(c.hash_sum for c in counted) == \
        sum(count_unit(SliceTask(selecting, s), _kit()).hash_sum for s in hashed)
    rows = select_rows(io, selecting, slices[0], tmp_path)
    batch = pa.concat_batches(list(read_unit_batches(rows)))
    assert batch.schema.names[:2] == ["_item", "_item_hash"] and batch.num_rows == 60


def test_a_unit_run_twice_leaves_the_same_result(ddb: Any,
                                                 lake: tuple[Path, list[Any]]) -> None:
    path, items = lake
    create_table(ddb, "sudst", sk=("sk", "S"))
    io = LocalFileIO(path)
    config = RestoreConfig(lake=str(path), target="sudst", existing=True)
    planned = plan_selection(io, config)
    slices = plan_slices(planned, BY_PART, unit_rows=30)
    keys = planned.manifest.key_schema.to_dict()
    context = UnitContext(config, "susrc", "20261207T120000Z-0a1b2c3d", keys, None, "", 0.0)
    kit = _kit()
    first = [restore_unit(UnitTask(context, s.unit, s), kit) for s in slices]
    after_first = {value_key(from_client(i)) for i in scan_all(ddb, "sudst")}
    again = restore_unit(UnitTask(context, slices[1].unit, slices[1]), kit)  # a retry
    assert again == first[1]
    assert {value_key(from_client(i)) for i in scan_all(ddb, "sudst")} == after_first == \
        {value_key(i) for i in items}


def test_a_unit_refuses_a_plan_the_lake_no_longer_matches(
        lake: tuple[Path, list[Any]]) -> None:
    path, _ = lake
    io = LocalFileIO(path)
    config = RestoreConfig(lake=str(path), target="x")
    planned = plan_selection(io, config)
    [whole] = plan_slices(planned, BY_KEY_HASH, unit_rows=10_000)
    stale = type(whole)(whole.unit, whole.parts[1:], whole.own_parts, whole.units)
    with pytest.raises(UsageError, match="lake changed since this restore was planned"):
        count_unit(SliceTask(Selecting(config, None, None), stale), _kit())


def test_a_damaged_part_stops_the_restore_before_any_write(
        ddb: Any, lake: tuple[Path, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = lake
    restore_module = importlib.import_module("restorer.restore")
    monkeypatch.setattr(restore_module, "units_select", lambda config, previous: True)
    part = sorted(path.glob("susrc/snapshots/*/data/*.parquet"))[-1]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="does not match its manifest"):
        restore_module.restore(RestoreConfig(lake=str(path), target="sudamaged",
                                             unit_rows=30))
    assert "sudamaged" not in ddb.list_tables()["TableNames"]


def test_dry_run_counts_and_samples_in_units_as_the_driver_does(
        lake: tuple[Path, list[Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path, items = lake
    keys = tmp_path / "keys.csv"
    keys.write_text("pk,sk\n" + "".join(f"{i['pk']['S']},{i['sk']['S']}\n"
                                       for i in items[::9]) + "nope,nope\n")
    restore_module = importlib.import_module("restorer.restore")
    config = RestoreConfig(lake=str(path), target="x", keys_file=str(keys), dry_run=True,
                           where="true", unit_rows=30, sample=2)
    driver = restore_module.restore(config)
    monkeypatch.setattr(restore_module, "units_select", lambda config, previous: True)
    units = restore_module.restore(config)
    assert (units.selected, units.keys_unmatched) == (driver.selected, driver.keys_unmatched)
    assert driver.selected == len(items[::9]) and driver.keys_unmatched == 1
    assert len(units.sample) == len(driver.sample) == 2
    assert set(units.sample) <= _texts(path)


def _texts(path: Path) -> set[str]:
    """Every item of the lake's snapshot as the selection spells it."""
    config = RestoreConfig(lake=str(path), target="x")
    planned = plan_selection(LocalFileIO(path), config)
    [whole] = plan_slices(planned, BY_KEY_HASH, unit_rows=10_000)
    with sliced_query(LocalFileIO(path), Selecting(config, None, None), whole) as query:
        return set(query.sample(10_000))


def test_key_hash_units_are_the_spools_units(lake: tuple[Path, list[Any]],
                                             tmp_path: Path) -> None:
    """A restore spooled by the driver can be resumed by units that select their own rows
    (another engine): unit u holds the same rows either way."""
    path, _ = lake
    io = LocalFileIO(path)
    config = RestoreConfig(lake=str(path), target="x")
    source = resolve_source(io, config)
    query = Query(source, config)
    spool = Spool(4, tmp_path / "spool")
    spool.fill(query)
    query.close()
    source.close()
    planned = plan_selection(io, config)
    for part in plan_slices(planned, BY_KEY_HASH, unit_rows=10_000, units=4):
        mine = select_rows(io, Selecting(config, None, None), part, tmp_path)
        assert sorted(read_unit(mine)) == sorted(read_unit(spool.path(part.unit)))
