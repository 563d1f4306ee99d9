"""A restore unit that runs on another machine reads its rows staged in the lake, not the
driver's spool folder: staged, written from the lake alone, and removed afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ddblake import sampledata
from exporter.describe import describe_table
from lake import catalog, layout
from lake.fileio import LocalFileIO
from restorer.config import RestoreConfig
from restorer.select import Query, resolve_source
from restorer.spool import Spool, stage, unstage
from restorer.units import UnitContext, write_unit
from schemas.dynamo_json import from_client, value_key
from tests.helpers import create_table, scan_all
from tests.restorer.lakehelp import snapshot_items

RID = "20261207T120000Z-0a1b2c3d"  # a restore id as ddblake makes them (layout checks names)


def test_units_read_their_rows_from_the_lake(ddb: Any, tmp_path: Path) -> None:
    create_table(ddb, "stsrc", sk=("sk", "S"))
    create_table(ddb, "stdst", sk=("sk", "S"))
    items = list(sampledata.orders(90))
    lake_dir = tmp_path / "lake"
    snapshot_items(lake_dir, "stsrc", items, describe_table(ddb, "stsrc"))
    io = LocalFileIO(lake_dir)
    config = RestoreConfig(lake=str(lake_dir), target="stdst", existing=True, unit_rows=40)
    query = Query(resolve_source(io, config), config)
    spool = Spool(3, tmp_path / "spool")
    assert spool.fill(query) == 90
    query.close()
    stage(spool, io, "stsrc", RID, [0, 1, 2])
    spool.close()
    for unit in range(3):
        (tmp_path / "spool" / f"unit-{unit:05d}.arrows").unlink()  # not on this "machine"
    keys = catalog.load_manifest(io, "stsrc", catalog.snapshot_ids(io, "stsrc")[0]).key_schema
    ctx = UnitContext(config, "stsrc", RID, keys.to_dict(), None,
                      str(tmp_path / "missing"), 0.0, staged=True)
    written = sum(write_unit(ctx, unit, client=ddb, io=io).written for unit in range(3))
    assert written == 90
    assert {value_key(from_client(i)) for i in scan_all(ddb, "stdst")} == \
        {value_key(i) for i in items}
    unstage(io, "stsrc", RID)
    assert not list(io.iter_objects(layout.restore_spool_prefix("stsrc", RID)))
