"""The `ddblake` command beside this interpreter runs the DuckDB the tests import.

Tests that start `ddblake` as a process trust that it runs the same DuckDB as they do; the
DuckDB 2.x job (.ci/duckdb2) depends on it: a venv whose `ddblake` started another python
would test the pin twice and call it 2.x."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb

from lake.fileio import load_file_io
from tests.queries.conftest import build_lake
from tests.queries.lakegen import T0

DDBLAKE = str(Path(sys.executable).with_name("ddblake"))


def _query(lake: str, *args: str) -> list[str]:
    done = subprocess.run([DDBLAKE, "query", "--lake", lake, "--format", "csv", *args],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_ddblake_process_runs_this_duckdb(tmp_path: Path) -> None:
    case = build_lake(load_file_io(str(tmp_path / "lake")))
    assert _query(case.io.uri, "SELECT version() AS v") == ["v", f"v{duckdb.__version__}"]
    # --as-of rebuilds items from a snapshot and the change log: the SQL of queries/format2sql
    at = T0 + timedelta(seconds=31)
    rows = _query(case.io.uri, "--as-of", at.isoformat(),
                  "SELECT version() AS v, count(*) AS n FROM items")
    assert rows == ["v,n", f"v{duckdb.__version__},{len(case.history.state_at(at))}"]
