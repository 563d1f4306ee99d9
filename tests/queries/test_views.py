"""Views and table macros, on local and S3 lakes, against the Python history."""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from queries.session import LakeSession, QueryError, QueryOptions
from schemas.dynamo_json import canonical_bytes
from schemas.errors import UsageError
from tests.helpers import TEST_LAKE_FORMAT
from tests.queries.conftest import TABLE, LakeCase
from tests.queries.lakegen import BIG, T0, key_of


def canon(item: dict[str, Any]) -> str:
    return canonical_bytes(copy.deepcopy(item)).decode()


def as_map(rows: list[tuple[str]]) -> dict[tuple[str, ...], str]:
    import orjson

    return {key_of(orjson.loads(t)): t for (t,) in rows}


def test_snapshots_items_changes(any_case: LakeCase) -> None:
    with LakeSession(any_case.io) as s:
        snaps = s.snapshots().to_pylist()
        assert [r["snapshot_id"] for r in snaps] == [any_case.first.snapshot_id,
                                                     any_case.second.snapshot_id]
        assert [r["consistency"] for r in snaps] == ["exact", "fuzzy"]
        assert [r["items"] for r in snaps] == [any_case.first.totals.items,
                                              any_case.second.totals.items]
        latest = any_case.history.state_at(T0 + timedelta(seconds=35))
        got = as_map(s.connection.sql("SELECT CAST(_item AS VARCHAR) FROM items").fetchall())
        assert got == {k: canon(v) for k, v in latest.items()}
        ops = s.query("SELECT _op, count(*) AS n FROM changes GROUP BY _op ORDER BY _op")
        expected: dict[str, int] = {}
        for e in any_case.history.events:
            expected[e.op] = expected.get(e.op, 0) + 1
        assert dict(zip(ops["_op"].to_pylist(), ops["n"].to_pylist(), strict=True)) == expected


def test_as_of_macro_equals_history(any_case: LakeCase) -> None:
    seconds = range(1, 76, 3) if any_case.io.uri.startswith("s3://") else range(1, 76)
    with LakeSession(any_case.io) as s:
        for second in seconds:
            ts = T0 + timedelta(seconds=second)
            rows = s.connection.execute(
                "SELECT CAST(_item AS VARCHAR) FROM as_of('orders', ?)", [ts]).fetchall()
            want = {k: canon(v) for k, v in any_case.history.state_at(ts).items()}
            assert as_map(rows) == want, f"as_of macro differs at +{second}s"


def test_diff_and_snapshot_items(local_case: LakeCase) -> None:
    a, b = local_case.first.snapshot_id, local_case.second.snapshot_id
    old = local_case.history.state_at(T0)
    new = local_case.history.state_at(T0 + timedelta(seconds=35))
    want = {}
    for k in old.keys() | new.keys():
        if k not in new:
            want[k] = ("removed", canon(old[k]), None)
        elif k not in old:
            want[k] = ("added", None, canon(new[k]))
        elif canon(old[k]) != canon(new[k]):
            want[k] = ("changed", canon(old[k]), canon(new[k]))
    with LakeSession(local_case.io) as s:
        rows = s.connection.execute(
            "SELECT _pk, _change, CAST(_old AS VARCHAR), CAST(_new AS VARCHAR) "
            "FROM diff(?, ?)", [a, b]).fetchall()
        assert {(r[0],): tuple(r[1:]) for r in rows} == want
        [count] = s.connection.execute("SELECT count(*) FROM snapshot_items(?)", [a]).fetchall()
        assert count == (len(old),)


def test_history_macro(local_case: LakeCase) -> None:
    h = local_case.history
    with LakeSession(local_case.io) as s:
        rows = s.query("SELECT _source, _op, CAST(_item AS VARCHAR) AS item "
                       "FROM history('orders', 'u004')").to_pylist()
    changes = [(r["_op"], r["item"]) for r in rows if r["_source"] == "change"]
    want = [(e.op, canon(e.old if e.op == "REMOVE" else e.item))  # type: ignore[arg-type]
            for e in sorted(h.events, key=lambda e: (e.at, e.seq)) if key_of(e.item) == ("u004",)]
    assert changes == want
    snaps = [r for r in rows if r["_source"].startswith("snapshot")]
    assert [r["item"] for r in snaps] == [canon(h.state_at(T0)[("u004",)])]


def test_options_point_items_at_a_time_or_snapshot(local_case: LakeCase) -> None:
    ts = T0 + timedelta(seconds=31)
    with LakeSession(local_case.io, QueryOptions(as_of=ts)) as s:
        rows = s.connection.sql("SELECT CAST(_item AS VARCHAR) FROM items").fetchall()
        assert as_map(rows) == {k: canon(v) for k, v in local_case.history.state_at(ts).items()}
    sid = local_case.first.snapshot_id
    with LakeSession(local_case.io, QueryOptions(snapshot=sid)) as s:
        assert s.query("SELECT count(*) AS n FROM items")["n"].to_pylist() == [40]
    with pytest.raises(UsageError, match="not both"):
        QueryOptions(snapshot=sid, as_of=ts)


def test_pandas_dtypes_are_exact(local_case: LakeCase) -> None:
    with LakeSession(local_case.io) as s:
        df = s.query_df("SELECT _pk, big, maybe, price FROM items ORDER BY _pk")
    assert isinstance(df["big"].dtype, pd.ArrowDtype)
    assert df["maybe"].isna().any() and not df["maybe"].isna().all()
    assert df["big"].iloc[0] == Decimal(BIG)
    number = pa.int64() if TEST_LAKE_FORMAT == 1 else pa.decimal128(38, 6)
    assert df["maybe"].dtype == pd.ArrowDtype(number)
    assert df["price"].iloc[1] == Decimal("103.25")


def test_a_later_query_closes_an_unread_result_loudly(local_case: LakeCase) -> None:
    """DuckDB 2.x refuses a statement while a result streams, 1.x cut the old stream
    short without a word: on both, the new query runs and the old result says it was cut."""
    with LakeSession(local_case.io) as s:
        reader = s.reader("SELECT * FROM range(1000000)")
        assert reader.read_next_batch().num_rows > 0
        got = s.query("SELECT count(*) AS n FROM items WHERE _pk <> $skip", {"skip": "x"})
        assert got["n"].to_pylist() == [38]
        with pytest.raises(QueryError, match="closed before it was read to the end"):
            reader.read_all()
        whole = s.reader("SELECT * FROM range(200000)")
        assert whole.read_all().num_rows == 200000  # read to the end: nothing to close


def test_bad_sql_is_a_query_error(local_case: LakeCase) -> None:
    with LakeSession(local_case.io) as s, pytest.raises(QueryError) as info:
        s.query("SELECT nope FROM items")
    assert info.value.hint and "views" in info.value.hint
    assert isinstance(info.value.__cause__, duckdb.Error)


def test_print_setup_runs_in_a_plain_duckdb(any_case: LakeCase) -> None:
    with LakeSession(any_case.io) as s:
        statements = s.setup_sql()
        want = s.query("SELECT count(*) AS n FROM as_of('orders', '2026-11-10 09:00:47Z')")
    con = duckdb.connect()
    for statement in statements:
        con.execute(statement)
    [got] = con.sql("SELECT count(*) FROM as_of('orders', '2026-11-10 09:00:47Z')").fetchall()
    assert got == (want["n"][0].as_py(),)
    ts = T0 + timedelta(seconds=47)
    assert got == (len(any_case.history.state_at(ts)),)
    assert TABLE in {r[0] for r in con.sql('SELECT "table" FROM snapshots').fetchall()}
