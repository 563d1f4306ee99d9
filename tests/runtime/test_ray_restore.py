"""Restores on a 2-node Ray cluster, where each unit selects its own rows from its parts of
the lake (restorer.slices), give the same items and the same counts as local restores,
where the driver selects and spools: with a --where filter, a keys file, --as-of (a change
log replayed) and put-if-absent into a table that already holds items; and a unit whose
worker is killed in the middle of its writes is retried with equal results."""

from __future__ import annotations

import copy
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from exporter.describe import describe_table
from lake import layout
from lake.fileio import LocalFileIO
from lake.writers import SnapshotWriter, write_change_batch
from restorer import RestoreConfig, restore
from restorer.config import RestoreResult
from schemas.changes import ChangeRecord
from schemas.codec import encode_items
from schemas.dynamo_json import from_client, to_client, value_key
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Source
from tests.helpers import REGION, create_table, scan_all
from tests.runtime.raycluster import workers_running_units

pytestmark = pytest.mark.slow
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
COUNT = 240


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _us(t: datetime) -> int:
    return int((t - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000


def _item(i: int, v: str = "v1") -> dict[str, Any]:
    return {"pk": {"S": f"k{i:03d}"}, "v": {"S": v * (1 + i % 5)}, "n": {"N": f"{i}.50"}}


def _lake(ddb: Any, lake: Path, table: str) -> None:
    """A snapshot of COUNT items in 4 parts at T0, and a change log after it."""
    create_table(ddb, table)
    description = describe_table(ddb, table)
    keys = KeySchema.from_description(description)
    io = LocalFileIO(lake)
    writer = SnapshotWriter(io, table, layout.new_id(T0), keys)
    base = [_item(i) for i in range(COUNT)]
    for seq in range(4):
        chunk = copy.deepcopy(base[seq * 60:(seq + 1) * 60])
        writer.write_part(layout.part_name(0, seq), encode_items(chunk, keys))
    writer.commit(source=Source(table, "scan"), consistency=Consistency(
        "exact", _iso(T0), _iso(T0)), table_description=description)

    def rec(s: int, op: Any, new: Any, old: Any) -> ChangeRecord:
        key = {"pk": (new or old)["pk"]}
        return ChangeRecord(_us(T0 + timedelta(seconds=s)), op, key, new, old, "test", str(s))

    records = [rec(10, "REMOVE", None, _item(1)), rec(11, "MODIFY", _item(70, "v2"), _item(70)),
               rec(12, "MODIFY", _item(70, "v3"), _item(70, "v2")),
               rec(13, "INSERT", _item(500), None), rec(14, "REMOVE", None, _item(130)),
               rec(40, "MODIFY", _item(2, "late"), _item(2))]
    write_change_batch(io, table, keys, records, source={"kind": "test"},
                       positions={"shard": "1"}, batch_id=layout.new_id(T0 + timedelta(seconds=50)))


def _items(ddb: Any, table: str) -> set[Any]:
    return {value_key(from_client(i)) for i in scan_all(ddb, table)}


COUNTS = ("selected", "written", "written_earlier", "skipped_existing", "skipped_expired",
          "dead_letters", "keys_unmatched")


def _counts(result: RestoreResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in COUNTS}


def test_selections_on_ray_equal_local(ray_cluster: object, server_env: dict[str, str],
                                       tmp_path: Path) -> None:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    _lake(ddb, tmp_path, "rsel")
    keys = tmp_path / "keys.csv"
    keys.write_text("pk\n" + "".join(f"k{i:03d}\n" for i in range(0, 300, 7)))
    cases: dict[str, dict[str, Any]] = {
        "where": {"where": "n >= 100 AND v <> 'v1v1'"},
        "keys": {"keys_file": str(keys)},
        "as-of": {"as_of": _iso(T0 + timedelta(seconds=20))},
        "as-of+where": {"as_of": _iso(T0 + timedelta(seconds=20)), "where": "n < 80"},
    }
    for name, extra in cases.items():
        results = {}
        for engine in ("local", "ray"):
            target = f"rsel-{name}-{engine}".replace("+", "-")
            results[engine] = restore(RestoreConfig(
                lake=str(tmp_path), target=target, unit_rows=50, engine=engine,
                workers=None if engine == "ray" else 1, **extra))
            verification = results[engine].verification
            assert verification is not None and verification.ok
        local, on_ray = results["local"], results["ray"]
        assert _counts(on_ray) == _counts(local), name
        assert local.selected > 0 and local.written == local.selected, name
        assert _items(ddb, f"rsel-{name}-ray".replace("+", "-")) == \
            _items(ddb, f"rsel-{name}-local".replace("+", "-")), name
        assert len(on_ray.units_per_node) == 2, name  # units ran on both nodes
    assert results["local"].selected == 79  # as of +20 s, n < 80: k000-k079 but k001 (removed)
    assert not list(tmp_path.glob("rsel/state/restores/*/spool/*"))  # nothing staged


def test_put_if_absent_counts_on_ray_equal_local(ray_cluster: object,
                                                 server_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    _lake(ddb, tmp_path, "rpia")
    results = {}
    for engine in ("local", "ray"):
        target = f"rpia-{engine}"
        create_table(ddb, target)
        for i in range(0, COUNT, 10):  # 24 items there before the restore, one changed
            ddb.put_item(TableName=target, Item=to_client(_item(i, "old" if i == 10 else "v1")))
        results[engine] = restore(RestoreConfig(
            lake=str(tmp_path), target=target, unit_rows=50, engine=engine, existing=True,
            mode="put-if-absent", workers=None if engine == "ray" else 1))
    assert _counts(results["ray"]) == _counts(results["local"])
    assert results["ray"].skipped_existing == 24 and results["ray"].written == COUNT - 24
    assert _items(ddb, "rpia-ray") == _items(ddb, "rpia-local")


def _count(ddb: Any, table: str) -> int:
    try:
        return int(ddb.scan(TableName=table, Select="COUNT")["Count"])
    except ddb.exceptions.ResourceNotFoundException:
        return 0


def test_a_restore_unit_killed_mid_write_is_retried(ray_cluster: object,
                                                    server_env: dict[str, str],
                                                    tmp_path: Path) -> None:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    _lake(ddb, tmp_path, "rkill")
    reference = restore(RestoreConfig(lake=str(tmp_path), target="rkill-local", unit_rows=60))
    killed: list[tuple[int, int]] = []
    watcher = boto3.client("dynamodb", region_name=REGION)

    def kill_one_mid_write() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            written = _count(watcher, "rkill-ray")
            running = workers_running_units()
            if 0 < written < COUNT and running:
                os.kill(running[0], signal.SIGKILL)
                killed.append((running[0], written))
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_mid_write)
    killer.start()
    # 4 units of 60 items at 40 WCU: each unit writes for about 1.5 s
    result = restore(RestoreConfig(lake=str(tmp_path), target="rkill-ray", unit_rows=60,
                                   engine="ray", workers=None, max_wcu=40.0))
    killer.join()
    assert killed, "no unit was writing to kill"
    assert 0 < killed[0][1] < COUNT
    assert _counts(result) == _counts(reference)
    assert result.verification and result.verification.ok
    assert result.verification.found_digest == reference.verification.found_digest  # type: ignore[union-attr]
    assert _items(ddb, "rkill-ray") == _items(ddb, "rkill-local")
