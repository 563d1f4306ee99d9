"""The same runs on a 2-node Ray cluster as on one machine: a scan export, a native export's
conversion and a restore give the same content digest and the same items; a Ray worker
killed in the middle of a segment is retried and the snapshot is the same."""

from __future__ import annotations

import copy
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddblake import sampledata
from exporter import ExportConfig, export_table
from exporter.describe import describe_table
from exporter.import_export import import_export
from exporter.native import ConvertConfig
from lake import catalog
from lake.fileio import LocalFileIO
from restorer import RestoreConfig, restore
from schemas.dynamo_json import from_client, value_key
from schemas.keys import KeyAttribute, KeySchema
from tests.helpers import REGION, create_table, put_items, scan_all
from tests.native.conftest import T0
from tests.native.export_builder import ExportBuilder, LocalBucket
from tests.restorer.lakehelp import snapshot_items
from tests.runtime.raycluster import workers_running_units

pytestmark = pytest.mark.slow
SCAN = {"segments": 4, "page_limit": 20, "target_part_mb": 0.002}


def _table(name: str, count: int) -> Any:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, name)
    put_items(ddb, name, [{"pk": {"S": f"k{i:05d}"}, "n": {"N": f"{i}.25"},
                          "s": {"S": "text " * (1 + i % 7)}} for i in range(count)])
    return ddb


def test_scan_export_on_ray_equals_local(ray_cluster: object, server_env: dict[str, str],
                                        tmp_path: Path) -> None:
    _table("rayscan", 400)
    local = export_table(ExportConfig(table="rayscan", lake=str(tmp_path / "local"),
                                      workers=1, **SCAN))  # type: ignore[arg-type]
    on_ray = export_table(ExportConfig(table="rayscan", lake=str(tmp_path / "ray"),
                                       engine="ray", **SCAN))  # type: ignore[arg-type]
    assert on_ray.manifest.totals.items == local.manifest.totals.items == 400
    assert on_ray.manifest.totals.content_digest == local.manifest.totals.content_digest
    nodes = on_ray.stats["units_per_node"]
    assert on_ray.stats["engine"] == "ray" and sum(nodes.values()) == 4 and len(nodes) == 2


def test_a_worker_killed_in_a_segment_is_retried(ray_cluster: object,
                                                 server_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    _table("raykill", 600)
    reference = export_table(ExportConfig(table="raykill", lake=str(tmp_path / "local"),
                                          workers=1, **SCAN))  # type: ignore[arg-type]
    lake = tmp_path / "ray"
    killed: list[int] = []

    def kill_one_mid_segment() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            parts = list(lake.glob("raykill/snapshots/*/data/*.parquet"))
            running = workers_running_units()
            if parts and running:
                os.kill(running[0], signal.SIGKILL)
                killed.append(running[0])
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_mid_segment)
    killer.start()
    result = export_table(ExportConfig(table="raykill", lake=str(lake), engine="ray",
                                       **SCAN))  # type: ignore[arg-type]
    killer.join()
    assert killed, "no unit was running to kill"
    assert result.manifest.totals.content_digest == reference.manifest.totals.content_digest
    assert result.manifest.totals.items == 600


def test_native_conversion_on_ray_equals_local(ray_cluster: object, tmp_path: Path) -> None:
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    builder = ExportBuilder(LocalBucket(bucket))
    source = list(sampledata.orders(1500))
    built = builder.write(builder.full(copy.deepcopy(source), export_time=T0,
                                       items_per_file=300, empty=1))
    keys = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
    digests = []
    for engine in ("local", "ray"):
        lake = LocalFileIO(tmp_path / engine)
        config = ConvertConfig(workers=1 if engine == "local" else 2,
                               part_item_bytes=64 * 1024, engine=engine)
        result = import_export(str(bucket / built.export_dir), lake, keys=keys, config=config)
        manifest = catalog.load_manifest(lake, "Orders", result.snapshot_id or "")
        digests.append((manifest.totals.items, manifest.totals.content_digest))
    assert digests[0] == digests[1] and digests[0][0] == 1500


def test_restore_on_ray_equals_local(ray_cluster: object, server_env: dict[str, str],
                                    tmp_path: Path) -> None:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, "raysrc", sk=("sk", "S"))
    items = list(sampledata.orders(500))
    snapshot_items(tmp_path, "raysrc", items, describe_table(ddb, "raysrc"), parts=3)
    local = restore(RestoreConfig(lake=str(tmp_path), target="raylocal", unit_rows=100))
    on_ray = restore(RestoreConfig(lake=str(tmp_path), target="rayray", unit_rows=100,
                                   engine="ray", workers=None, max_wcu=400.0))
    for result in (local, on_ray):
        assert result.written == 500 and result.verification and result.verification.ok
    assert local.verification.found_digest == on_ray.verification.found_digest  # type: ignore[union-attr]
    # on Ray a unit is a group of whole parts (3 parts of about 167 items, 100 a unit)
    assert sum(on_ray.units_per_node.values()) == 3 and len(on_ray.units_per_node) == 2
    assert not list(tmp_path.glob("raysrc/state/restores/*/spool/*"))  # nothing staged
    expected = {value_key(i) for i in items}
    assert {value_key(from_client(i)) for i in scan_all(ddb, "rayray")} == expected


def test_deep_verify_on_ray_finds_what_local_finds(ray_cluster: object, tmp_path: Path) -> None:
    from lake.verify import Distributed, verify_snapshot
    from runtime.ray_engine import RayExecutor

    manifest = snapshot_items(tmp_path, "vsrc", list(sampledata.orders(300)),
                              {"TableName": "vsrc", "KeySchema": [
                                  {"AttributeName": "pk", "KeyType": "HASH"},
                                  {"AttributeName": "sk", "KeyType": "RANGE"}],
                               "AttributeDefinitions": [
                                  {"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}]}, parts=4)
    io = LocalFileIO(tmp_path)
    distributed = Distributed(RayExecutor())
    clean = verify_snapshot(io, "vsrc", manifest.snapshot_id, deep=True,
                            distributed=distributed)
    assert clean.ok and clean.rows == 300
    part = next(tmp_path.glob("vsrc/snapshots/*/data/*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    local = verify_snapshot(io, "vsrc", manifest.snapshot_id, deep=True)
    on_ray = verify_snapshot(io, "vsrc", manifest.snapshot_id, deep=True,
                             distributed=distributed)
    assert not on_ray.ok and [str(p) for p in on_ray.problems] == [str(p) for p in local.problems]


def test_drill_on_ray_passes(ray_cluster: object, server_env: dict[str, str],
                             tmp_path: Path) -> None:
    """The drill's deep verify and restore both run as units on the cluster."""
    from restorer.drill import DrillConfig, drill

    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, "drsrc", sk=("sk", "S"))
    snapshot_items(tmp_path, "drsrc", list(sampledata.orders(200)),
                   describe_table(ddb, "drsrc"), parts=3)
    result = drill(DrillConfig(lake=str(tmp_path), table="drsrc", engine="ray"))
    assert result.passed and result.restored_items == 200
