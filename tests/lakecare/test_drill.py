"""drill: restore the latest snapshot into a temporary table, compare, drop, record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lake import layout
from lake.fileio import FileIO
from schemas.errors import CorruptDataError
from tests.lakecare.lakehelp import TABLE, make_snapshot

drill_module = pytest.importorskip("restorer.drill")


def _tables(ddb: Any) -> list[str]:
    return list(ddb.list_tables()["TableNames"])


def test_drill_passes_and_is_recorded(local_lake: FileIO, ddb: Any) -> None:
    now = datetime.now(UTC)  # explicit times: ids made in the same second sort at random
    make_snapshot(local_lake, when=now - timedelta(hours=1), items=30, parts=1)
    latest = make_snapshot(local_lake, when=now, items=80, parts=3, start=500)
    result = drill_module.drill(drill_module.DrillConfig(lake=local_lake.uri))
    assert result.passed and result.snapshot_id == latest.snapshot_id
    assert result.restored_items == result.manifest_items == 80
    assert all(result.checks.values()) and len(result.checks) == 3
    assert _tables(ddb) == []  # the temporary table is gone
    recorded = drill_module.last_passed(local_lake, TABLE)
    assert recorded is not None and recorded["snapshot"] == latest.snapshot_id
    assert recorded["restored_items"] == 80 and recorded["seconds"] >= 0


def test_drill_fails_on_a_tampered_part(local_lake: FileIO, ddb: Any) -> None:
    m = make_snapshot(local_lake, items=40, parts=2)
    key = layout.snapshot_part(TABLE, m.snapshot_id, m.parts[1].path)
    data = bytearray(local_lake.read(key))
    data[len(data) // 2] ^= 0x40
    local_lake.write(key, bytes(data))
    with pytest.raises(CorruptDataError):
        drill_module.drill(drill_module.DrillConfig(lake=local_lake.uri))
    history = drill_module.drills(local_lake, TABLE)
    assert [d["outcome"] for d in history] == ["failed"]
    assert history[0]["checks"] == {"snapshot verifies": False}
    assert drill_module.last_passed(local_lake, TABLE) is None
    assert _tables(ddb) == []


def test_drill_command(local_lake: FileIO, ddb: Any,
                       capsys: pytest.CaptureFixture[str]) -> None:
    from tests.lakecare.test_cli import run

    make_snapshot(local_lake, items=25, parts=1)
    code, out, _ = run(capsys, "drill", TABLE, "--lake", local_lake.uri, "--format", "json")
    assert code == 0 and '"outcome":"passed"' in out
    assert len(drill_module.drills(local_lake, TABLE)) == 1
