"""Mistyped lakes and tables, damaged manifests and other lake documents: a message that says
what was found and what to do, the documented exit code, never a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lake import catalog, layout
from lake.drills import drills, record_drill
from lake.fileio import FileIO, LocalFileIO
from schemas.errors import ManifestError, UnsafeNameError
from tests.helpers import run_cli as run
from tests.lakecare.hostile import forge
from tests.lakecare.lakehelp import TABLE, make_snapshot

NOW = datetime.now(UTC)

# Commands that need a lake, with the words after --lake LAKE.
LAKE_COMMANDS = [["snapshots"], ["query", "SELECT 1"], ["verify", "latest"],
                 ["verify", "--all"], ["restore", "--to", "x-copy"], ["gc"],
                 ["prune", "--keep-last", "1"], ["drill", TABLE], ["show", "latest"],
                 ["copy", "latest", "--to", "/tmp/never-written"]]


def _lake(tmp_path: Path) -> LocalFileIO:
    io = LocalFileIO(tmp_path / "lake")
    make_snapshot(io, when=NOW - timedelta(days=1), items=10, parts=1)
    make_snapshot(io, when=NOW, items=12, parts=1, start=50)
    make_snapshot(io, when=NOW, items=5, parts=1, table="users")
    return io


def _argv(command: list[str], lake: str) -> list[str]:
    if command[0] == "drill":
        return [*command, "--lake", lake]
    return [command[0], *command[1:], "--lake", lake]


@pytest.mark.parametrize("command", LAKE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_mistyped_lake_path_says_so_and_names_what_exists(
        tmp_path: Path, ddb: Any, command: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    _lake(tmp_path)
    code, _, err = run(capsys, *_argv(command, str(tmp_path / "lkae")))
    assert code == 5, err
    assert f"error: the lake {tmp_path / 'lkae'} does not exist" in err
    assert f"hint: {tmp_path} holds: lake" in err and "Traceback" not in err
    assert "several tables" not in err


@pytest.mark.parametrize("command", LAKE_COMMANDS[:4], ids=lambda c: " ".join(c[:2]))
def test_a_table_folder_given_as_the_lake_names_the_lake(
        tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    io = _lake(tmp_path)
    code, _, err = run(capsys, *_argv(command, str(tmp_path / "lake" / TABLE)))
    assert code == 5, err
    assert f"{tmp_path / 'lake' / TABLE} is a table's folder, not a lake" in err
    assert f"hint: give the folder above it: --lake {io.uri}" in err


@pytest.mark.parametrize("command", [["snapshots"], ["query", "SELECT 1"], ["verify", "latest"],
                                     ["verify", "--all"], ["prune", "--keep-last", "1"],
                                     ["show", "latest"], ["gc"], ["thaw", "latest"]],
                         ids=lambda c: " ".join(c[:2]))
def test_a_mistyped_table_names_the_tables_the_lake_holds(
        tmp_path: Path, ddb: Any, command: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    io = _lake(tmp_path)
    code, _, err = run(capsys, *_argv(command, io.uri), "--table", "order")
    assert code == 5, err
    assert f"error: table order is not in the lake {io.uri}" in err
    assert "hint: the lake holds: orders, users" in err
    code, _, err = run(capsys, *_argv(command, io.uri), "--table", "Orders")
    assert code == 5 and "did you mean orders?" in err


def test_restore_and_drill_of_a_mistyped_table(tmp_path: Path, ddb: Any,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    io = _lake(tmp_path)
    for argv in (["restore", "order", "--to", "x-copy"], ["drill", "order"]):
        code, _, err = run(capsys, *argv, "--lake", io.uri)
        assert code == 5 and f"error: table order is not in the lake {io.uri}" in err
        assert "hint: the lake holds: orders, users" in err
    assert ddb.list_tables()["TableNames"] == []


def test_a_table_name_dynamodb_would_refuse_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    io = _lake(tmp_path)
    for bad in ("../orders", "or/ders", "ab"):
        code, _, err = run(capsys, "snapshots", "--lake", io.uri, "--table", bad)
        assert code == 2 and f"error: {bad!r} is not a DynamoDB table name" in err


def test_an_empty_lake_is_fine_for_snapshots_and_explained_elsewhere(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "fresh").mkdir()
    code, out, _ = run(capsys, "snapshots", "--lake", str(tmp_path / "fresh"), "--format", "json")
    assert code == 0 and json.loads(out) == []
    code, _, err = run(capsys, "query", "SELECT 1", "--lake", str(tmp_path / "fresh"))
    assert code == 5 and "holds no tables yet" in err


def test_a_successful_drill_prints_no_error_line(local_lake: FileIO, ddb: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    make_snapshot(local_lake, items=15, parts=1)
    code, _, err = run(capsys, "drill", TABLE, "--lake", local_lake.uri, "-q")
    assert code == 0 and "outcome: passed" in err
    assert "error" not in err
    code, out, _ = run(capsys, "drill", TABLE, "--lake", local_lake.uri, "--format", "json")
    assert code == 0 and json.loads(out)["error"] is None  # the JSON keeps its shape


# --- one damaged manifest -------------------------------------------------------------------

def _flip(io: FileIO, table: str, snapshot_id: str) -> None:
    key = layout.snapshot_manifest(table, snapshot_id)
    io.write(key, io.read(key).replace(b'"method": "scan"', b'"method": "scam"'))


def test_a_damaged_old_manifest_is_flagged_and_skipped(
        local_lake: FileIO, capsys: pytest.CaptureFixture[str]) -> None:
    old = make_snapshot(local_lake, when=NOW - timedelta(days=2), items=10, parts=1)
    latest = make_snapshot(local_lake, when=NOW, items=12, parts=1, start=50)
    _flip(local_lake, TABLE, old.snapshot_id)
    lake = local_lake.uri
    code, out, err = run(capsys, "snapshots", "--lake", lake, "--format", "json")
    rows = json.loads(out)
    assert code == 0 and [(r["snapshot_id"], r["tier"]) for r in rows] == [
        (old.snapshot_id, "DAMAGED"), (latest.snapshot_id, "local")]
    assert "self-checksum" in rows[0]["damaged"]
    assert f"warning: snapshot {old.snapshot_id} of {TABLE} is damaged" in err
    code, out, err = run(capsys, "query", "SELECT count(*) AS n FROM items", "--lake", lake,
                         "--format", "csv")
    assert code == 0 and out.split() == ["n", "12"]
    assert f"note: snapshot {old.snapshot_id} of {TABLE} is damaged and was skipped" in err
    code, out, _ = run(capsys, "query", "SELECT count(*) AS n FROM snapshots", "--lake", lake,
                       "--format", "csv")
    assert code == 0 and out.split() == ["n", "1"]
    # What needs exactly that snapshot still fails, with exit 4.
    for argv in (["query", "SELECT 1", "--snapshot", old.snapshot_id],
                 ["show", old.snapshot_id], ["verify", old.snapshot_id],
                 ["query", "SELECT 1", "--as-of", (NOW - timedelta(days=1)).isoformat()]):
        code, _, err = run(capsys, *argv, "--lake", lake)
        assert code == 4 and "self-checksum" in err and "hint:" in err, argv
    code, _, _ = run(capsys, "query", "SELECT 1", "--lake", lake, "--as-of", NOW.isoformat())
    assert code == 0  # a newer base exists: the damaged one is not needed


def test_a_damaged_latest_manifest_stops_items_and_names_the_way_out(
        local_lake: FileIO, capsys: pytest.CaptureFixture[str]) -> None:
    old = make_snapshot(local_lake, when=NOW - timedelta(days=2), items=10, parts=1)
    latest = make_snapshot(local_lake, when=NOW, items=12, parts=1, start=50)
    _flip(local_lake, TABLE, latest.snapshot_id)
    lake = local_lake.uri
    code, _, err = run(capsys, "query", "SELECT count(*) FROM items", "--lake", lake)
    assert code == 4 and f"the latest snapshot of {TABLE} is damaged" in err
    assert "hint: point `items` at an older snapshot with --snapshot ID" in err
    code, out, _ = run(capsys, "query", "SELECT count(*) AS n FROM items", "--lake", lake,
                       "--snapshot", old.snapshot_id, "--format", "csv")
    assert code == 0 and out.split() == ["n", "10"]
    code, _, err = run(capsys, "restore", "--lake", lake, "--to", "x-copy", "--dry-run")
    assert code == 4 and "self-checksum" in err


def test_a_manifest_in_another_snapshots_folder_is_refused(
        local_lake: FileIO, capsys: pytest.CaptureFixture[str]) -> None:
    """A self-consistent manifest copied into another folder would make readers use the
    other snapshot's parts under this id."""
    first = make_snapshot(local_lake, when=NOW - timedelta(days=1), items=10, parts=1)
    second = make_snapshot(local_lake, when=NOW, items=12, parts=1, start=50)
    local_lake.write(layout.snapshot_manifest(TABLE, second.snapshot_id),
                     local_lake.read(layout.snapshot_manifest(TABLE, first.snapshot_id)))
    with pytest.raises(ManifestError, match="not the folder it is in"):
        catalog.load_manifest(local_lake, TABLE, second.snapshot_id)
    code, _, err = run(capsys, "copy", "latest", "--lake", local_lake.uri, "--to",
                       str(Path(local_lake.uri).parent / "dest"))
    assert code == 4 and "not the folder it is in" in err


# --- other lake documents that name keys ----------------------------------------------------

def test_hostile_drill_records_are_not_records(local_lake: FileIO,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    m = make_snapshot(local_lake, items=5, parts=1)
    good = {"drill_id": "20261122T000000Z-00000001", "table": TABLE, "snapshot": m.snapshot_id,
            "outcome": "passed", "started_at": "2026-11-22T00:00:00+00:00"}
    record_drill(local_lake, TABLE, good["drill_id"], good)
    bad = [{**good, "snapshot": "../../x"}, {**good, "table": "other"}, {**good, "outcome": 1},
           {**good, "drill_id": "20261122T000000Z-00000009"}, [1, 2]]
    for n, record in enumerate(bad, start=2):
        drill_id = f"20261122T000000Z-0000000{n}"
        local_lake.write(layout.state_key(TABLE, f"drills/{drill_id}.json"),
                         json.dumps(record).encode())
    local_lake.write(layout.state_key(TABLE, "drills/20261122T000000Z-00000008.json"), b"{nope")
    assert [d["drill_id"] for d in drills(local_lake, TABLE)] == [good["drill_id"]]
    code, out, _ = run(capsys, "snapshots", "--lake", local_lake.uri, "--format", "json")
    assert code == 0 and json.loads(out)[0]["drilled"] == good["started_at"]
    with pytest.raises(UnsafeNameError):
        record_drill(local_lake, TABLE, "../../../outside", good)


def test_an_export_checkpoint_naming_a_part_outside_is_refused(local_lake: FileIO) -> None:
    from exporter.state import Checkpoint, load_checkpoint, save_checkpoint

    sid = layout.new_id()
    save_checkpoint(local_lake, TABLE, sid, Checkpoint(0))
    key = layout.state_key(TABLE, f"exports/{sid}/segment-0.json")
    document = json.loads(local_lake.read(key))
    document["parts"] = [{"path": "../../../../x.parquet", "rows": 1, "bytes": 1,
                          "sha256": "0" * 64, "digest": "0" * 64}]
    local_lake.write(key, json.dumps(document).encode())
    with pytest.raises(UnsafeNameError, match=r"part path '\.\./\.\./\.\./\.\./x\.parquet'"):
        load_checkpoint(local_lake, TABLE, sid, 0)


def test_a_restore_journal_or_stream_state_naming_ids_outside_builds_no_key() -> None:
    from exporter.stream_state import StreamState
    from restorer.journal import Journal

    journal = Journal("../../../x", TABLE, None, "target", {}, 0, "", 0)
    with pytest.raises(UnsafeNameError, match="restore id"):
        journal.key()
    state = StreamState(TABLE, "arn:aws:dynamodb:us-east-1:1:table/orders/stream/x")
    state.pending = {"batch_id": "../../../x"}
    with pytest.raises(UnsafeNameError, match="batch id"):
        layout.change_manifest(state.table, str(state.pending["batch_id"]))


def test_a_forged_change_batch_stops_query_with_exit_4(
        local_lake: FileIO, capsys: pytest.CaptureFixture[str]) -> None:
    from schemas.models import dump_checked
    from tests.lakecare.lakehelp import make_changes

    make_snapshot(local_lake, when=NOW - timedelta(hours=1), items=5, parts=1)
    batch = make_changes(local_lake, NOW)
    key = layout.change_manifest(TABLE, batch.batch_id)
    document = json.loads(local_lake.read(key))
    document["parts"][0]["path"] = "changes/../../../outside.parquet"
    local_lake.write(key, dump_checked(document))
    code, _, err = run(capsys, "query", "SELECT count(*) FROM changes", "--lake", local_lake.uri)
    assert code == 4 and "part path 'changes/../../../outside.parquet'" in err


def test_forge_keeps_a_valid_checksum(local_lake: FileIO) -> None:
    """The helper the hostile tests rely on: its manifests fail only on what they name."""
    m = make_snapshot(local_lake, items=5, parts=1)
    forge(local_lake, m, lambda d: d.update(created_at="2026-01-01T00:00:00Z"))
    assert catalog.load_manifest(local_lake, TABLE, m.snapshot_id).created_at == \
        "2026-01-01T00:00:00Z"


def test_a_mistyped_s3_prefix_names_what_the_bucket_holds(
        s3_lake: FileIO, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.lakecare.conftest import BUCKET

    make_snapshot(s3_lake, items=5, parts=1)
    code, _, err = run(capsys, "restore", "--lake", f"s3://{BUCKET}/lkae", "--to", "x-copy")
    assert code == 5 and f"the lake s3://{BUCKET}/lkae holds no tables yet" in err
    assert f"hint: s3://{BUCKET} holds: lake" in err
    code, out, err = run(capsys, "snapshots", "--lake", f"s3://{BUCKET}/lkae", "--format", "json")
    assert code == 0 and json.loads(out) == [] and f"s3://{BUCKET} holds: lake" in err
