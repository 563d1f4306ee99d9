"""DynamoDB table names may hold dots and dashes and differ only in case: each table gets its
own answers from every view, macro and audit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lake.fileio import FileIO, load_file_io
from queries.session import LakeSession, QueryOptions
from tests.helpers import run_cli
from tests.queries.lakegen import T0, History, key_of, make_item, write_changes, write_snapshot

# Three tables a DuckDB identifier would confuse: a dot (read as schema.table), and two
# names that differ only in case (DuckDB identifiers are case-insensitive).
TABLES = {"my.Table": range(0, 10), "my.table": range(10, 30), "Orders-2026_v1.x": range(30, 33),
          "Users": range(40, 44), "users": range(50, 57)}


def _case_sensitive(path: Path) -> bool:
    probe = path / "CaseProbe"
    probe.mkdir()
    try:
        return not (path / "caseprobe").exists()
    finally:
        probe.rmdir()


def _history(ids: range) -> History:
    h = History()
    for i in ids:
        item = make_item(i)
        h.initial[key_of(item)] = item
    h.record(T0 + timedelta(seconds=10), "MODIFY", make_item(ids[0], version=1))
    h.record(T0 + timedelta(seconds=20), "REMOVE", make_item(ids[1]))
    return h


@pytest.fixture
def lake(tmp_path: Path) -> tuple[FileIO, dict[str, Any]]:
    if not _case_sensitive(tmp_path):
        pytest.skip("case-insensitive file system: tables differing only in case share a "
                    "folder (a documented limitation of local lakes; S3 is case-sensitive)")
    io = load_file_io(str(tmp_path / "lake"))
    made: dict[str, Any] = {}
    for table, ids in TABLES.items():
        h = _history(ids)
        first = write_snapshot(io, table, list(h.state_at(T0).values()), T0 + timedelta(seconds=1))
        write_changes(io, table, h.events, covered=(T0, T0 + timedelta(seconds=100)))
        second = write_snapshot(io, table, list(h.state_at(T0 + timedelta(seconds=30)).values()),
                                T0 + timedelta(seconds=30))
        made[table] = (h, first, second)
    return io, made


def _one(session: LakeSession, sql: str) -> Any:
    return session.query(sql).to_pylist()[0]


def test_every_macro_answers_for_its_own_table(lake: tuple[FileIO, dict[str, Any]]) -> None:
    io, made = lake
    with LakeSession(io) as session:
        for table, (h, first, second) in made.items():
            ids = TABLES[table]
            name = f"'{table}'"
            n = _one(session, "SELECT count(*) AS n FROM snapshot_items("
                              f"'{first.snapshot_id}', tbl := {name})")["n"]
            assert n == len(ids), table
            at = (T0 + timedelta(seconds=15)).isoformat()
            rows = session.query(f"SELECT id FROM as_of({name}, TIMESTAMPTZ '{at}')")
            assert sorted(rows.column("id").to_pylist()) == sorted(
                k[0] for k in h.state_at(T0 + timedelta(seconds=15))), table
            changed = session.query(f"SELECT _change, _pk FROM diff('{first.snapshot_id}', "
                                    f"'{second.snapshot_id}', tbl := {name}) ORDER BY 2")
            assert changed.to_pylist() == [
                {"_change": "changed", "_pk": f"u{ids[0]:03d}"},
                {"_change": "removed", "_pk": f"u{ids[1]:03d}"}], table
            versions = session.query(f"SELECT _source FROM history({name}, 'u{ids[0]:03d}')")
            assert versions.num_rows == 3, table  # two snapshots and one change
            foreign = next(TABLES[t][0] for t in TABLES if t != table)
            other = session.query(f"SELECT * FROM history({name}, 'u{foreign:03d}')")
            assert other.num_rows == 0, table  # another table's item is not in this one


def test_items_and_audits_follow_table(lake: tuple[FileIO, dict[str, Any]],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    io, made = lake
    for table, ids in TABLES.items():
        with LakeSession(io, QueryOptions(table=table)) as session:
            assert _one(session, "SELECT count(*) AS n FROM items")["n"] == len(ids) - 1
            assert _one(session, "SELECT count(*) AS n FROM changes")["n"] == 2
        code, out, err = run_cli(capsys, "audit", "integrity", "--lake", io.uri, "--table",
                                 table, "--format", "csv")
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0] == "source,rows,mismatched,unchecked" and len(lines) == 4  # 2 snaps+log
        assert f"snapshot {made[table][1].snapshot_id},{len(ids)},0,0" in lines
        assert "change log,2,0,0" in lines
        code, out, err = run_cli(capsys, "audit", "schema-drift", "--lake", io.uri,
                                 "--table", table, "--format", "csv")
        assert code == 0 and "Traceback" not in err, err


def test_a_table_name_differing_only_in_case_is_named_in_the_error(
        lake: tuple[FileIO, dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    io, _ = lake
    code, _, err = run_cli(capsys, "query", "SELECT 1", "--lake", io.uri, "--table", "MY.TABLE")
    assert code == 5
    assert "table MY.TABLE is not in the lake" in err
    assert "hint: table names are case-sensitive: did you mean my.Table?" in err
    code, _, err = run_cli(capsys, "query", "SELECT 1", "--lake", io.uri, "--table", "orders")
    assert code == 5 and "hint: the lake holds: My" not in err
    assert "the lake holds: Orders-2026_v1.x, Users, my.Table, my.table, users" in err
