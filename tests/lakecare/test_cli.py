"""The lake-care commands as a user runs them: output, exit codes, error hints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lake import catalog, layout
from lake.drills import record_drill
from lake.fileio import FileIO, LocalFileIO
from tests.helpers import run_cli as run
from tests.lakecare.conftest import BUCKET
from tests.lakecare.lakehelp import TABLE, make_snapshot

START = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)




def test_verify_exit_codes(local_lake: FileIO, capsys: pytest.CaptureFixture[str]) -> None:
    good = make_snapshot(local_lake, when=START)
    bad = make_snapshot(local_lake, when=START + timedelta(days=1))
    lake = local_lake.uri
    code, out, _ = run(capsys, "verify", "latest", "--lake", lake, "--deep", "--format", "json")
    assert code == 0 and json.loads(out)[0]["rows_rehashed"] == 40
    local_lake.delete(layout.snapshot_part(TABLE, bad.snapshot_id, bad.parts[0].path))
    code, out, err = run(capsys, "verify", "--all", "--lake", lake)
    assert code == 5 and "missing" in err and "hint:" in err
    assert [r["status"] for r in json.loads(run(capsys, "verify", "--all", "--lake", lake,
                                                "--format", "json")[1])] == ["ok", "missing"]
    key = layout.snapshot_manifest(TABLE, good.snapshot_id)
    tampered = local_lake.read(key).replace(b'"method": "scan"', b'"method": "export"')
    local_lake.write(key, tampered)
    code, _, err = run(capsys, "verify", good.snapshot_id, "--lake", lake)
    assert code == 4 and "self-checksum" in err
    code, _, err = run(capsys, "verify", "--lake", lake)
    assert code == 2 and "either SNAPSHOT or --all" in err


def test_prune_dry_run_then_for_real(local_lake: FileIO,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    for day in range(6):
        make_snapshot(local_lake, when=START + timedelta(days=day), items=4, parts=1)
    args = ("prune", "--lake", local_lake.uri, "--keep-last", "2")
    code, out, err = run(capsys, *args, "--dry-run")
    assert code == 0 and out.count("delete") == 4 and "nothing was deleted" in err
    assert len(catalog.snapshot_ids(local_lake, TABLE)) == 6
    code, out, err = run(capsys, *args)
    assert code == 0 and "deleted: 4" in err
    assert len(catalog.snapshot_ids(local_lake, TABLE)) == 2
    code, _, err = run(capsys, "prune", "--lake", local_lake.uri)
    assert code == 2 and "keeps nothing" in err


def test_archive_thaw_lifecycle_on_s3(s3_lake: FileIO, s3: Any,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    old = make_snapshot(s3_lake, when=now - timedelta(days=45))
    make_snapshot(s3_lake, when=now)
    lake = f"s3://{BUCKET}/lake"
    code, out, err = run(capsys, "archive", "--lake", lake, "--older-than", "30d",
                         "--storage-class", "GLACIER", "--format", "json")
    assert code == 0 and json.loads(out)["ids"] == old.snapshot_id
    code, _, err = run(capsys, "verify", old.snapshot_id, "--lake", lake, "--deep")
    assert code == 6 and "ddblake thaw" in err
    record_drill(s3_lake, TABLE, "20261122T000000Z-00000000",
                 {"table": TABLE, "snapshot": old.snapshot_id, "outcome": "passed",
                  "started_at": "2026-11-22T00:00:00+00:00"})
    code, out, _ = run(capsys, "snapshots", "--lake", lake, "--format", "json")
    assert [(r["tier"], r["drilled"]) for r in json.loads(out)] == [
        ("GLACIER", "2026-11-22T00:00:00+00:00"), ("STANDARD", "")]
    code, out, _ = run(capsys, "thaw", old.snapshot_id, "--lake", lake, "--wait",
                       "--format", "json")
    assert code == 0 and json.loads(out)["ready"] is True
    assert run(capsys, "verify", old.snapshot_id, "--lake", lake, "--deep")[0] == 0
    code, out, err = run(capsys, "lifecycle", "--lake", lake, "--transition", "30:GLACIER",
                         "--dry-run")
    rules = json.loads(out)["Rules"]
    assert code == 0 and [r["ID"] for r in rules] == ["ddblake:lake:snapshot-data",
                                                      "ddblake:lake:housekeeping"]
    code, _, err = run(capsys, "archive", "--lake", lake, "--older-than", "30 days",
                       "--storage-class", "GLACIER")
    assert code == 2 and "bad duration" in err


def test_copy_command(local_lake: FileIO, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    m = make_snapshot(local_lake)
    target = tmp_path / "copy"
    code, out, _ = run(capsys, "copy", "latest", "--lake", local_lake.uri, "--to", str(target),
                       "--deep", "--format", "json")
    assert code == 0 and json.loads(out)["ok"] is True
    assert catalog.snapshot_ids(LocalFileIO(target), TABLE) == [m.snapshot_id]
