"""`ddblake snapshots` shows, per table, where as_of is exact and where the log has gaps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from ddblake.cli import cli
from lake.fileio import LocalFileIO
from tests.queries.lakegen import T0, Event, make_item, write_changes, write_snapshot


def test_snapshots_lists_exact_intervals_and_gaps(tmp_path: Path) -> None:
    io = LocalFileIO(tmp_path)
    first = make_item(1)
    write_snapshot(io, "events", [first], T0, split=False)
    write_changes(io, "events",
                  [Event(T0 + timedelta(seconds=5), "MODIFY", make_item(1, version=1), first, 0)],
                  covered=(T0, T0 + timedelta(minutes=10)),
                  gaps=[(T0 + timedelta(minutes=4), T0 + timedelta(minutes=5))])
    result = CliRunner().invoke(cli, ["snapshots", "--lake", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("events") and "exact" in line for line in lines)
    assert any(line.startswith("events") and "GAP" in line for line in lines)


def test_snapshots_says_when_nothing_is_exact(tmp_path: Path) -> None:
    # A scan taken while the table was written is exact at no instant without a change log.
    write_snapshot(LocalFileIO(tmp_path), "events", [make_item(1)], T0, split=False,
                   fuzzy_start=T0 - timedelta(seconds=30))
    result = CliRunner().invoke(cli, ["snapshots", "--lake", str(tmp_path)])
    assert result.exit_code == 0 and "No change log covers any interval" in result.output
    as_json = CliRunner().invoke(cli, ["snapshots", "--lake", str(tmp_path), "--format", "json"])
    assert "No change log" not in as_json.output  # machine formats stay one kind of row
