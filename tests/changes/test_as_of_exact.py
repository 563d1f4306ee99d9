"""as_of is exact: a scripted history against moto, a fuzzy snapshot taken while the script
writes, the stream consumed into the lake; at every recorded instant, as_of equals the table
state recorded at that instant.

moto stamps stream records with wall-clock time (ms precision), so the script records each
instant as wall-clock time after the operation has returned and a short pause has passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson

from exporter.streams import StreamConfig, consume_stream
from lake.coverage import coverage
from lake.fileio import LocalFileIO
from lake.writers import SnapshotWriter
from queries.selections import as_of_selection
from schemas.codec import encode_items
from schemas.dynamo_json import from_client, value_key
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Source
from tests.helpers import scan_all

TABLE = "orders"
PAUSE = 0.015
Op = Callable[[Any], Any]


def now_us() -> int:
    return time.time_ns() // 1000


def at(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def key(pk: str, sk: int = 1) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}}


def put(pk: str, **attrs: Any) -> Op:
    return lambda ddb: ddb.put_item(TableName=TABLE, Item={**key(pk), **attrs})


def update(pk: str, expression: str, values: dict[str, Any] | None = None) -> Op:
    extra = {"ExpressionAttributeValues": values} if values else {}
    return lambda ddb: ddb.update_item(TableName=TABLE, Key=key(pk),
                                       UpdateExpression=expression, **extra)


def delete(pk: str) -> Op:
    return lambda ddb: ddb.delete_item(TableName=TABLE, Key=key(pk))


BEFORE = [
    put("a", qty={"N": "1"}, note={"S": "first"}, bytes_={"B": b"\x00\x01"}),
    put("b", tags={"SS": ["x", "y"]}, nested={"M": {"l": {"L": [{"N": "1.50"}, {"NULL": True}]}}}),
    put("c", qty={"N": "99999999999999999999999999999999999999"}),
    put("d", flag={"BOOL": False}),
    update("a", "SET qty = :q REMOVE note", {":q": {"N": "2"}}),
    delete("b"),
    put("b", again={"S": "re-inserted"}),
]
DURING = [  # run between the pages of the snapshot's scan
    update("c", "SET qty = :q", {":q": {"N": "-0.000000000000000000000000000000000001"}}),
    delete("d"),
    put("e", bins={"BS": [b"\x02", b"\x01"]}),
    update("a", "REMOVE bytes_"),
    put("b", again={"S": "re-inserted"}),  # a no-op put: moto emits a MODIFY
    put("d", flag={"BOOL": True}),
]
AFTER = [
    delete("a"),
    put("a", qty={"N": "3"}),
    update("e", "REMOVE bins SET n = :n", {":n": {"N": "7"}}),
    delete("c"),
    put("f", empty={"S": ""}),
    delete("f"),
]


def state(ddb: Any) -> frozenset[Any]:
    return frozenset(value_key(from_client(item)) for item in scan_all(ddb, TABLE))


def run_ops(ddb: Any, ops: list[Op], instants: list[tuple[int, frozenset[Any]]]) -> None:
    for op in ops:
        op(ddb)
        time.sleep(PAUSE)
        instants.append((now_us(), state(ddb)))
        time.sleep(PAUSE)


def fuzzy_snapshot(io: LocalFileIO, ddb: Any, keys: KeySchema,
                   instants: list[tuple[int, frozenset[Any]]]) -> tuple[int, int]:
    """Scan two items a page while the DURING operations write; commit it as fuzzy."""
    start = now_us()
    time.sleep(PAUSE)
    items: list[dict[str, Any]] = []
    pending = list(DURING)
    kwargs: dict[str, Any] = {"TableName": TABLE, "Limit": 2}
    while True:
        page = ddb.scan(**kwargs)
        items += [from_client(i) for i in page["Items"]]
        if pending:
            run_ops(ddb, [pending.pop(0)], instants)
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    run_ops(ddb, pending, instants)
    end = now_us()
    writer = SnapshotWriter(io, TABLE, "20261122T000000Z-0000f022", keys)
    writer.write_part("data/part-00000-00000.parquet", encode_items(items, keys))
    writer.commit(source=Source(TABLE, "scan"),
                  consistency=Consistency("fuzzy", at(start).isoformat(), at(end).isoformat()),
                  table_description={"TableName": TABLE})
    return start, end


def as_of(io: LocalFileIO, ts_us: int) -> frozenset[Any]:
    selection = as_of_selection(io, TABLE, at(ts_us))
    con = duckdb.connect()
    for statement in selection.setup:
        con.execute(statement)
    rows = con.execute(f"SELECT CAST(_item AS VARCHAR) FROM ({selection.sql})").fetchall()
    return frozenset(value_key(orjson.loads(r[0])) for r in rows)


def test_as_of_equals_recorded_state_at_every_instant(lake: LocalFileIO, clients: Any,
                                                      streamed_table: str) -> None:
    ddb, streams = clients
    keys = KeySchema.from_description(ddb.describe_table(TableName=TABLE)["Table"])
    instants: list[tuple[int, frozenset[Any]]] = []
    run_ops(ddb, BEFORE, instants)
    _start, end = fuzzy_snapshot(lake, ddb, keys, instants)
    run_ops(ddb, AFTER, instants)
    result = consume_stream(lake, StreamConfig(TABLE, once=True, poll_seconds=0,
                                               settle_seconds=0, flush_records=5),
                            ddb=ddb, streams=streams)
    assert result.records == len(BEFORE) + len(DURING) + len(AFTER) and result.gaps == []
    assert len({s for _, s in instants}) > 10  # the history really moves
    for ts, expected in instants:
        assert as_of(lake, ts) == expected, f"as_of differs at {at(ts).isoformat()}"
    cov = coverage(lake, TABLE)
    assert all(cov.exact_at(ts) for ts, _ in instants if ts >= end)
    assert not any(cov.exact_at(ts) for ts, _ in instants if ts < end)
    assert cov.gaps == ()


def test_fuzzy_snapshot_alone_is_not_exact_but_becomes_exact_with_the_log(
        lake: LocalFileIO, clients: Any, streamed_table: str) -> None:
    ddb, streams = clients
    keys = KeySchema.from_description(ddb.describe_table(TableName=TABLE)["Table"])
    instants: list[tuple[int, frozenset[Any]]] = []
    run_ops(ddb, BEFORE, instants)
    _start, end = fuzzy_snapshot(lake, ddb, keys, instants)
    at_end = state(ddb)
    # without the log, the snapshot is a blend of the states during the scan
    assert as_of(lake, end) != at_end
    assert coverage(lake, TABLE).intervals == ()
    consume_stream(lake, StreamConfig(TABLE, once=True, poll_seconds=0, settle_seconds=0),
                   ddb=ddb, streams=streams)
    assert as_of(lake, end) == at_end
    assert coverage(lake, TABLE).exact_at(end)
