"""The query, shell and audit commands, as a user runs them."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.helpers import TEST_LAKE_FORMAT
from tests.helpers import run_cli as run
from tests.queries.conftest import LakeCase, build_lake
from tests.queries.lakegen import BIG, T0


def test_query_formats(local_case: LakeCase, capsys: Any, tmp_path: Path) -> None:
    lake = local_case.io.uri
    sql = "SELECT _pk, big, price, maybe FROM items WHERE _pk IN ('u000', 'u001') ORDER BY 1"
    code, out, _ = run(capsys, "query", "--lake", lake, sql, "--format", "ndjson")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    # Format 1 typed each part's numbers by what it saw; format 2 has one decimal per table.
    big, p0, p1, m0 = ((int(BIG), "100.00", "103.25", 0) if TEST_LAKE_FORMAT == 1 else
                       (BIG + ".000000", "100.000000", "103.250000", "0.000000"))
    assert rows == [{"_pk": "u000", "big": big, "price": p0, "maybe": m0},
                    {"_pk": "u001", "big": big, "price": p1, "maybe": None}]
    code, out, _ = run(capsys, "query", "--lake", lake, sql, "--format", "csv")
    assert out.splitlines() == ["_pk,big,price,maybe", f"u000,{big},{p0},{m0}",
                                f"u001,{big},{p1},"]
    target = tmp_path / "out.parquet"
    code, _, _ = run(capsys, "query", "--lake", lake, sql, "--format", "parquet",
                     "--output", str(target))
    table = pq.read_table(target)
    assert code == 0 and table.column("big").to_pylist() == [Decimal(BIG)] * 2
    code, out, _ = run(capsys, "query", "--lake", lake, sql)
    assert out.splitlines()[0].split() == ["_pk", "big", "price", "maybe"]


def test_query_as_of_and_notes(tmp_path: Path, capsys: Any) -> None:
    case = build_lake(__import__("lake.fileio", fromlist=["x"]).load_file_io(
        str(tmp_path / "nolog")), with_changes=False)
    code, out, err = run(capsys, "query", "--lake", case.io.uri, "--as-of",
                         "2026-11-10T09:00:20Z", "SELECT count(*) AS n FROM items",
                         "--format", "json")
    assert code == 0 and json.loads(out) == [{"n": 40}]
    assert "note: no change log covers" in err


def test_query_at_a_time_with_the_log(local_case: LakeCase, capsys: Any) -> None:
    ts = T0 + timedelta(seconds=31)
    code, out, _ = run(capsys, "query", "--lake", local_case.io.uri, "--as-of",
                       ts.isoformat(), "SELECT _pk FROM items ORDER BY 1", "--format", "csv")
    assert code == 0
    want = sorted(k[0] for k in local_case.history.state_at(ts))
    assert out.splitlines()[1:] == want


def test_query_errors_have_hints(local_case: LakeCase, capsys: Any) -> None:
    code, _, err = run(capsys, "query", "--lake", local_case.io.uri, "SELECT nope FROM items")
    assert code == 2 and "error: the query failed" in err and "hint:" in err
    code, _, err = run(capsys, "query", "--lake", local_case.io.uri, "--as-of", "yesterday",
                       "SELECT 1")
    assert code == 2 and "is not a time" in err
    code, _, err = run(capsys, "query", "SELECT 1")
    assert code == 2 and "no lake given" in err


def test_print_setup_feeds_plain_duckdb(local_case: LakeCase, capsys: Any) -> None:
    code, out, _ = run(capsys, "query", "--lake", local_case.io.uri, "--print-setup")
    assert code == 0
    con = duckdb.connect()
    for statement in out.split(";\n"):
        if statement.strip():
            con.execute(statement)
    assert con.sql("SELECT count(*) FROM items").fetchall() == [(38,)]


@pytest.mark.httpfs  # asserts what DuckDB does with the httpfs extension loaded
def test_print_setup_redacts_s3_secrets(s3_case: LakeCase, capsys: Any) -> None:
    code, out, _ = run(capsys, "query", "--lake", s3_case.io.uri, "--print-setup")
    assert code == 0 and "SECRET '<redacted>'" in out and "LOAD '" in out
    code, out, _ = run(capsys, "query", "--lake", s3_case.io.uri, "--print-setup",
                       "--with-credentials")
    assert "SECRET 'testing'" in out
    con = duckdb.connect()
    for statement in out.split(";\n"):
        if statement.strip():
            con.execute(statement)
    assert con.sql("SELECT count(*) FROM items").fetchall() == [(38,)]


def test_query_on_s3_lake(s3_case: LakeCase, capsys: Any) -> None:
    code, out, _ = run(capsys, "query", "--lake", s3_case.io.uri,
                       "SELECT count(*) AS n FROM items", "--format", "json")
    assert code == 0 and json.loads(out) == [{"n": 38}]


def test_shell_reads_statements(local_case: LakeCase, capsys: Any,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    script = "SELECT count(*) AS n\nFROM items;\nSELECT nope;\n.views\n.quit\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    code, out, err = run(capsys, "shell", "--lake", local_case.io.uri)
    assert code == 0
    assert out.splitlines()[:3] == ["n", "--", "38"]
    assert "error: the query failed" in err
    for view in ("items", "snapshots", "changes"):
        assert view in out
