"""Tables with a sort key (N) and a binary partition key; the no-httpfs fallback."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lake.fileio import load_file_io
from queries import access
from queries.selections import (
    as_of_selection,
    changed_between_selection,
    deleted_between_selection,
)
from queries.session import LakeSession
from schemas.dynamo_json import canonical_bytes
from schemas.keys import KeyAttribute, KeySchema
from tests.queries.conftest import LakeCase, build_lake, s3_io
from tests.queries.lakegen import KEYS_SK, T0, History, write_changes, write_snapshot
from tests.queries.test_selections import canon, texts

KEYS_B = KeySchema(KeyAttribute("bk", "B"))


def sk_item(p: int, s: int, v: int) -> dict[str, Any]:
    return {"pk": {"S": f"p{p}"}, "sk": {"N": str(s)}, "v": {"N": str(v)}}


def test_sort_key_table_as_of(tmp_path: Path) -> None:
    io = load_file_io(str(tmp_path / "lake"))
    h = History(keys=KEYS_SK)
    for p in range(3):
        for s in (1, 2, 10):
            it = sk_item(p, s, 0)
            h.initial[(f"p{p}", str(s))] = it
    t = T0 + timedelta(seconds=5)
    h.record(t, "MODIFY", sk_item(1, 2, 7))
    h.record(t + timedelta(seconds=1), "REMOVE", sk_item(1, 10, 0))
    h.record(t + timedelta(seconds=2), "INSERT", sk_item(1, 11, 1))
    write_snapshot(io, "events", list(h.initial.values()), T0, keys=KEYS_SK, split=False)
    write_changes(io, "events", h.events, keys=KEYS_SK)
    import duckdb
    import orjson

    for second in range(0, 10):
        ts = T0 + timedelta(seconds=second)
        sel = as_of_selection(io, "events", ts)

        rows = duckdb.connect().sql(f"SELECT CAST(_item AS VARCHAR) FROM ({sel.sql})").fetchall()
        got = {(orjson.loads(r[0])["pk"]["S"], orjson.loads(r[0])["sk"]["N"]): r[0] for r in rows}
        want = {k: canonical_bytes(copy.deepcopy(v)).decode() for k, v in h.state_at(ts).items()}
        assert got == want, second
        with LakeSession(io) as s:
            n = s.connection.execute("SELECT count(*) FROM as_of('events', ?)", [ts]).fetchone()
        assert n == (len(want),)
    t1, t2 = T0 + timedelta(seconds=1), T0 + timedelta(seconds=9)
    deleted = duckdb.connect().sql(
        f"SELECT _pk, _sk, CAST(_item AS VARCHAR) FROM "
        f"({deleted_between_selection(io, 'events', t1, t2).sql})").fetchall()
    assert deleted == [("p1", "10", canonical_bytes(sk_item(1, 10, 0)).decode())]
    changed = duckdb.connect().sql(
        f"SELECT _pk, _sk FROM ({changed_between_selection(io, 'events', t1, t2).sql}) "
        "ORDER BY ALL").fetchall()
    assert changed == [("p1", "10"), ("p1", "2")]


def test_binary_partition_key(tmp_path: Path) -> None:
    io = load_file_io(str(tmp_path / "lake"))
    items = [{"bk": {"B": "AAE="}, "v": {"S": "a"}}, {"bk": {"B": "/w=="}, "v": {"S": "b"}}]
    write_snapshot(io, "blobs", items, T0, keys=KEYS_B, split=False)
    with LakeSession(io) as s:
        rows = s.query("SELECT _pk, v FROM items ORDER BY _pk").to_pylist()
    assert rows == [{"_pk": b"\x00\x01", "v": "a"}, {"_pk": b"\xff", "v": "b"}]


def test_without_httpfs_s3_lakes_are_read_through_a_local_copy(
        server_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    case: LakeCase = build_lake(s3_io(server_env, "q-fallback"))
    monkeypatch.setattr(access, "httpfs_extension_path", lambda: None)
    monkeypatch.setattr(access, "_ACCESS", {})
    with caplog.at_level("WARNING", logger="ddblake.queries"):
        sel = as_of_selection(case.io, "orders", T0 + timedelta(seconds=47))
    assert sel.setup == [] and all(p.startswith("/") for p in sel.paths)
    assert texts(sel) == canon(case.history.state_at(T0 + timedelta(seconds=47)))
    assert sum("httpfs extension is not available" in r.message for r in caplog.records) == 1


def test_several_tables_need_table_for_items(local_case: LakeCase, capsys: Any) -> None:
    from tests.queries.lakegen import make_item
    from tests.queries.test_cli import run

    write_snapshot(local_case.io, "other", [make_item(i) for i in range(3)], T0)
    lake = local_case.io.uri
    code, _, err = run(capsys, "query", "--lake", lake, "SELECT count(*) FROM items")
    assert code == 2 and "name one with --table" in err
    code, out, _ = run(capsys, "query", "--lake", lake, "--table", "other",
                       "SELECT count(*) AS n FROM items", "--format", "csv")
    assert code == 0 and out.split() == ["n", "3"]
    code, out, _ = run(capsys, "query", "--lake", lake, "--format", "csv",
                       "SELECT (SELECT count(*) FROM as_of('other', now())) AS a, "
                       "(SELECT count(*) FROM as_of('orders', now())) AS b")
    final = len(local_case.history.state_at(T0 + timedelta(days=1)))
    assert code == 0 and out.split() == ["a,b", f"3,{final}"]
