"""``ddblake query`` and ``ddblake shell`` run read-only queries; everything else is a clear
refusal (exit 2 for query; the shell reports it and goes on), and no DuckDB error reaches
the user as a traceback."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from queries.session import LakeSession, QueryError
from tests.helpers import run_cli as run
from tests.queries.conftest import LakeCase

REFUSED = {
    "COPY (SELECT 1) TO '{dir}/copied.csv'": "COPY",
    "COPY items TO '{dir}/copied.parquet' (FORMAT parquet)": "COPY",
    "SET threads = 1": "SET",
    "RESET threads": "SET",
    "SET VARIABLE v = 1": "SET",
    "USE memory": "SET",
    "CREATE TABLE t AS SELECT 1": "CREATE",
    "CREATE OR REPLACE VIEW items AS SELECT 1 AS x": "CREATE",
    "CREATE SECRET s (TYPE s3)": "CREATE",
    "ATTACH '{dir}/attached.db' AS x": "ATTACH",
    "DETACH x": "DETACH",
    "INSTALL httpfs": "LOAD",
    "LOAD httpfs": "LOAD",
    "CALL duckdb_settings()": "CALL",
    "CHECKPOINT": "CALL",
    "INSERT INTO items VALUES (1)": "INSERT",
    "DROP VIEW items": "DROP",
    "EXPORT DATABASE '{dir}/exported'": "EXPORT",
    "PIVOT items ON status": "CREATE",
    "BEGIN": "TRANSACTION",
    "PREPARE p AS SELECT 1": "PREPARE",
    "UPDATE EXTENSIONS": "non-query",
}

ALLOWED = ["SELECT count(*) FROM items", "FROM items LIMIT 1", "VALUES (1)",
           "WITH x AS (SELECT 1 AS a) SELECT * FROM x", "DESCRIBE items", "SHOW TABLES",
           "SUMMARIZE items", "EXPLAIN SELECT 1", "PRAGMA show_tables", "TABLE snapshots",
           "SELECT 1 -- a comment", "SELECT 1;"]


@pytest.mark.parametrize("sql", list(REFUSED))
def test_query_refuses_what_is_not_a_query(local_case: LakeCase, tmp_path: Path,
                                           capsys: Any, sql: str) -> None:
    target = tmp_path / "out"
    target.mkdir()
    code, out, err = run(capsys, "query", "--lake", local_case.io.uri,
                         sql.format(dir=target))
    assert code == 2, err
    assert f"ddblake runs read-only queries; this is a {REFUSED[sql]} statement" in err
    assert "hint:" in err and "Traceback" not in err and out == ""
    assert list(target.iterdir()) == []  # nothing was written


@pytest.mark.parametrize("sql", ALLOWED)
def test_query_runs_read_only_statements(local_case: LakeCase, capsys: Any,
                                         sql: str) -> None:
    code, out, err = run(capsys, "query", "--lake", local_case.io.uri, sql, "--format", "csv")
    assert code == 0 and out, err


def test_one_statement_at_a_time_and_comments_only(local_case: LakeCase, capsys: Any) -> None:
    code, _, err = run(capsys, "query", "--lake", local_case.io.uri, "SELECT 1; SELECT 2")
    assert code == 2 and "one statement at a time" in err and "ddblake shell" in err
    code, _, err = run(capsys, "query", "--lake", local_case.io.uri, "/* nothing here */")
    assert code == 2 and "no SQL statement" in err


def test_an_error_while_streaming_is_a_clear_error(local_case: LakeCase, capsys: Any) -> None:
    sql = ("SELECT CAST(CASE WHEN i = 150000 THEN 'x' ELSE i::VARCHAR END AS INTEGER) AS n "
           "FROM range(200000) t(i)")
    for fmt in ("csv", "ndjson", "parquet"):
        code, _, err = run(capsys, "query", "--lake", local_case.io.uri, sql, "--format", fmt,
                           "--output", "/dev/null")
        assert code == 2 and "the query failed: Conversion Error" in err, (fmt, err)
        assert "Traceback" not in err


def test_a_mistyped_lake_path_says_so(tmp_path: Path, capsys: Any) -> None:
    code, _, err = run(capsys, "query", "--lake", str(tmp_path / "no-such-lake"),
                       "SELECT count(*) FROM items")
    assert code == 5 and "does not exist" in err and "--lake" in err, err


def test_the_shell_reports_refusals_and_goes_on(local_case: LakeCase, tmp_path: Path,
                                                capsys: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out"
    target.mkdir()
    script = (f"COPY (SELECT 1) TO '{target}/x.csv';\nSET threads = 1;\n"
              "CREATE TABLE t AS SELECT 1;\nINSTALL httpfs;\nSELECT nope;\n"
              "SELECT CAST('x' AS INTEGER);\n"
              "SELECT 41 + 1 AS answer; SELECT 'two' AS second;\n.quit\n")
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    code, out, err = run(capsys, "shell", "--lake", local_case.io.uri)
    assert code == 0 and "Traceback" not in err
    for kind in ("COPY", "SET", "CREATE", "LOAD"):
        assert f"this is a {kind} statement" in err
    assert err.count("error:") == 6 and err.count("hint:") == 6
    assert "42" in out and "two" in out
    assert list(target.iterdir()) == []


def test_the_library_refuses_too(local_case: LakeCase) -> None:
    with LakeSession(local_case.io) as session, pytest.raises(QueryError) as info:
        session.query("CREATE OR REPLACE VIEW items AS SELECT 1 AS x")
    assert info.value.hint
    with LakeSession(local_case.io) as session:
        assert session.query("SELECT count(*) AS n FROM items").column("n")[0].as_py() > 1
