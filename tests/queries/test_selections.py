"""The Selection contract, checked against the scripted history kept in Python."""

from __future__ import annotations

import contextlib
import copy
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from lake import catalog
from lake.fileio import load_file_io
from lake.verified import VerifiedLake
from queries.sandbox import run_trusted, sandboxed_connection
from queries.selections import (
    Selection,
    as_of_selection,
    changed_between_selection,
    deleted_between_selection,
    snapshot_selection,
)
from restorer.config import RestoreConfig
from restorer.select import Query, Source
from schemas.dynamo_json import canonical_bytes
from schemas.errors import NotFoundError, SandboxError, UsageError
from schemas.rowcodec import hash_of
from tests.helpers import TEST_LAKE_FORMAT
from tests.queries.conftest import TABLE, LakeCase, build_lake
from tests.queries.lakegen import BIG, T0, History, key_of


def texts(sel: Selection, where: str = "true") -> dict[tuple[str, ...], str]:
    con = duckdb.connect()
    for statement in sel.setup:
        con.execute(statement)
    rows = con.sql(f"SELECT CAST(_item AS VARCHAR) FROM ({sel.sql}) WHERE {where}").fetchall()
    out: dict[tuple[str, ...], str] = {}
    for (text,) in rows:
        import orjson

        item = orjson.loads(text)
        assert key_of(item) not in out, "duplicate key in a selection"
        out[key_of(item)] = text
    return out


def canon(items: dict[tuple[str, ...], dict[str, Any]]) -> dict[tuple[str, ...], str]:
    return {k: canonical_bytes(copy.deepcopy(v)).decode() for k, v in items.items()}


def expected_deleted(h: History, t1: datetime, t2: datetime) -> dict[tuple[str, ...], str]:
    at_t2 = h.state_at(t2)
    found = {}
    for e in sorted(h.events, key=lambda e: (e.at, e.seq)):
        if t1 < e.at <= t2 and e.op == "REMOVE" and key_of(e.item) not in at_t2:
            before = h.state_at(e.at - timedelta(microseconds=1))
            found[key_of(e.item)] = before[key_of(e.item)]
    return canon(found)


def expected_changed(h: History, t1: datetime, t2: datetime) -> dict[tuple[str, ...], str]:
    at_t1 = h.state_at(t1)
    touched = {key_of(e.item) for e in h.events if t1 < e.at <= t2}
    return canon({k: v for k, v in at_t1.items() if k in touched})


def test_snapshot_selection_types_and_spine(any_case: LakeCase) -> None:
    sel = snapshot_selection(any_case.io, any_case.first)
    assert texts(sel) == canon(any_case.history.state_at(T0))
    con = duckdb.connect()
    for statement in sel.setup:
        con.execute(statement)
    types = dict(con.sql(f"DESCRIBE {sel.sql}").fetchall()[i][:2]
                 for i in range(len(con.sql(f"DESCRIBE {sel.sql}").fetchall())))
    assert types["tags"] == "VARCHAR[]" and types["_item"] == "JSON"
    if TEST_LAKE_FORMAT == 1:
        assert types["price"] == "DECIMAL(38,2)" and types["big"] == "BIGINT"
        assert not {"Name", "name", "kind", "doc"} & set(types), "spine-only columns leaked"
    else:  # one number type per table; maps and mixed types as JSON; one of Name/name
        assert types["price"] == types["big"] == "DECIMAL(38,6)"
        # kind: N in the first part (even ids), S in the other: its S values are in _rest
        assert types["kind"] == "DECIMAL(38,6)" and types["doc"] == "JSON"
        assert types["id"] == "VARCHAR"
        assert ("Name" in types) != ("name" in types)
    rows = con.sql(f"SELECT _item_hash, CAST(_item AS VARCHAR), big, price FROM ({sel.sql}) "
                   "WHERE _pk IN ('u000', 'u001') ORDER BY _pk").fetchall()
    assert [r[0] for r in rows] == [hash_of(r[1].encode()) for r in rows]
    assert [r[2] for r in rows] == [Decimal(BIG), Decimal(BIG)]
    assert [r[3] for r in rows] == [Decimal("100"), Decimal("101.25")]
    assert all(p.startswith(("s3://", "/")) for p in sel.paths)


def test_as_of_every_second_equals_the_history(local_case: LakeCase) -> None:
    h = local_case.history
    for second in range(1, 76):
        ts = T0 + timedelta(seconds=second)
        sel = as_of_selection(local_case.io, TABLE, ts)
        assert texts(sel) == canon(h.state_at(ts)), f"as_of differs at +{second}s"
        assert sel.note is None, sel.note


def test_as_of_says_when_it_is_not_known_to_be_exact(local_case: LakeCase) -> None:
    from tests.queries.conftest import END
    from tests.queries.lakegen import write_changes

    later = END + timedelta(seconds=5)
    sel = as_of_selection(local_case.io, TABLE, later)
    assert sel.note and "not known to be exact" in sel.note
    assert texts(sel) == canon(local_case.history.state_at(later))
    gap = (END + timedelta(seconds=10), END + timedelta(seconds=12))
    write_changes(local_case.io, TABLE, local_case.history.events[-1:],
                  covered=(END, END + timedelta(seconds=20)), gaps=[gap])
    assert as_of_selection(local_case.io, TABLE, END + timedelta(seconds=5)).note is None
    note = as_of_selection(local_case.io, TABLE, END + timedelta(seconds=15)).note
    assert note and "has a gap from" in note and "trimmed" in note


def test_as_of_is_exact_to_the_microsecond(local_case: LakeCase) -> None:
    h = local_case.history
    edit = T0 + timedelta(seconds=10)
    for ts in (edit - timedelta(microseconds=1), edit, edit + timedelta(microseconds=1)):
        assert texts(as_of_selection(local_case.io, TABLE, ts)) == canon(h.state_at(ts))


@pytest.mark.httpfs  # asserts what DuckDB does with the httpfs extension loaded
def test_as_of_on_s3_matches(s3_case: LakeCase) -> None:
    h = s3_case.history
    for second in (2, 15, 31, 40, 47, 75):
        ts = T0 + timedelta(seconds=second)
        sel = as_of_selection(s3_case.io, TABLE, ts)
        assert any(s.startswith("CREATE OR REPLACE SECRET") for s in sel.setup)
        assert texts(sel) == canon(h.state_at(ts))


def test_as_of_typed_columns_from_change_images(local_case: LakeCase) -> None:
    ts = T0 + timedelta(seconds=45)
    sel = as_of_selection(local_case.io, TABLE, ts)
    con = duckdb.connect()
    got = con.sql(f"SELECT _pk, price, qty, status, tags, big FROM ({sel.sql}) "
                  "WHERE _pk IN ('u001', 'u002', 'u041') ORDER BY _pk").fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in got] == [
        ("u001", Decimal("103.25"), 3, "active"), ("u002", Decimal("103"), 3, None),
        ("u041", Decimal("141.25"), 41, "pending")]
    assert got[0][4] == ["all", "t1"] and got[0][5] == Decimal(BIG)


def test_as_of_without_change_log_says_so(tmp_path: Any) -> None:
    case = build_lake(load_file_io(str(tmp_path / "l")), with_changes=False)
    sel = as_of_selection(case.io, TABLE, T0 + timedelta(seconds=30))
    assert sel.note and "no change log" in sel.note and case.first.snapshot_id in sel.note
    assert texts(sel) == canon(case.history.state_at(T0))
    with pytest.raises(NotFoundError, match="no snapshot at or before"):
        as_of_selection(case.io, TABLE, T0)


@pytest.mark.parametrize(("a", "b"), [(2, 100), (2, 22), (20, 51), (25, 45)])
def test_deleted_and_changed_between(local_case: LakeCase, a: int, b: int) -> None:
    t1, t2 = T0 + timedelta(seconds=a), T0 + timedelta(seconds=b)
    h = local_case.history
    deleted = texts(deleted_between_selection(local_case.io, TABLE, t1, t2))
    assert deleted == expected_deleted(h, t1, t2)
    changed = texts(changed_between_selection(local_case.io, TABLE, t1, t2))
    assert changed == expected_changed(h, t1, t2)


def test_window_selections_on_s3(s3_case: LakeCase) -> None:
    t1, t2 = T0 + timedelta(seconds=2), T0 + timedelta(seconds=100)
    h = s3_case.history
    assert texts(deleted_between_selection(s3_case.io, TABLE, t1, t2)) == \
        expected_deleted(h, t1, t2)
    assert texts(changed_between_selection(s3_case.io, TABLE, t1, t2)) == \
        expected_changed(h, t1, t2)


def test_windows_without_change_log_compare_snapshots(tmp_path: Any) -> None:
    case = build_lake(load_file_io(str(tmp_path / "l")), with_changes=False)
    t1, t2 = T0 + timedelta(seconds=2), T0 + timedelta(seconds=100)
    first, second = case.history.state_at(T0), case.history.state_at(T0 + timedelta(seconds=35))
    sel = deleted_between_selection(case.io, TABLE, t1, t2)
    assert sel.note and "no change log" in sel.note
    assert texts(sel) == canon({k: v for k, v in first.items() if k not in second})
    changed = changed_between_selection(case.io, TABLE, t1, t2)
    assert texts(changed) == canon({k: v for k, v in first.items()
                                    if canonical_bytes(copy.deepcopy(v))
                                    != canonical_bytes(copy.deepcopy(second.get(k, {})))})


def sandboxed(io: Any, sel: Selection, where: str) -> list[str]:
    """The items of ``sel`` that ``where`` keeps, as a restore selects them."""
    manifest = catalog.find_snapshot(io, "latest", TABLE)
    query = Query(Source(manifest, sel, "test"), RestoreConfig(lake=io.uri, target="t",
                                                               where=where))
    try:
        return query.sample(10**9)
    finally:
        query.close()


HOSTILE = [
    "1=1) OR (1=1",
    "_pk IN (SELECT column0 FROM read_csv('/etc/passwd'))",
    "true; COPY (SELECT 1) TO '/tmp/ddblake-pwned.csv'",
    "true; ATTACH '/tmp/ddblake-pwned.db' AS x",
    "true; SET enable_external_access = true",
    "_pk IN (SELECT _pk FROM read_parquet('/etc/*.parquet'))",
    "EXISTS (SELECT * FROM read_text('/etc/hostname'))",
]


@pytest.mark.parametrize("where", HOSTILE)
def test_hostile_filters_are_refused(local_case: LakeCase, where: str) -> None:
    sel = as_of_selection(local_case.io, TABLE, T0 + timedelta(seconds=31))
    with pytest.raises((SandboxError, UsageError)) as info:
        sandboxed(local_case.io, sel, where)
    assert info.value.hint and info.value.exit_code == 2
    assert info.value.message.startswith("the --where filter"), info.value.message


def test_a_comment_cannot_change_the_filter(local_case: LakeCase) -> None:
    sel = as_of_selection(local_case.io, TABLE, T0 + timedelta(seconds=31))
    assert sandboxed(local_case.io, sel, "_pk = 'x' -- OR true") == []
    assert sandboxed(local_case.io, sel, "_pk = 'x' /* OR true */") == []


def test_sandbox_blocks_statements_and_settings(any_case: LakeCase) -> None:
    sel = snapshot_selection(any_case.io, any_case.second)
    con = sandboxed_connection(sel.paths, setup_sql=sel.setup)
    for sql in ("COPY (SELECT 1) TO '/tmp/ddblake-pwned.csv'",
                "ATTACH '/tmp/ddblake-pwned.db' AS x",
                "SET enable_external_access = true",
                "SELECT * FROM read_csv('/etc/passwd')"):
        with pytest.raises(SandboxError, match="refused by the sandbox"):
            run_trusted(con, sql).fetchall()
    # A restore reads verified local copies of the parts (no httpfs in its connections).
    with contextlib.closing(VerifiedLake(any_case.io)) as lake:
        local = snapshot_selection(
            lake, catalog.find_snapshot(lake, any_case.second.snapshot_id, TABLE))
        lake.fetch()
        filtered = sandboxed(lake, local, "status = 'active' AND price > 110")
    assert filtered and all('"active"' in t for t in filtered)
