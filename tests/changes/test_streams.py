"""The stream consumer against moto's DynamoDB Streams."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.stream_records import SEQ_WIDTH
from exporter.stream_state import load_state
from exporter.streams import StreamConfig, consume_stream
from lake.catalog import list_change_batches
from lake.fileio import FileIO, LocalFileIO
from lake.progress import RecordingListener
from schemas.errors import UsageError
from tests.changes.faults import DyingFileIO, Inject, Killed
from tests.changes.lakeread import committed_rows
from tests.helpers import create_table


def run(io: FileIO, clients: tuple[Any, Any], table: str = "orders", **settings: Any) -> Any:
    ddb, streams = clients
    config = StreamConfig(table, once=True, poll_seconds=0, **settings)
    return consume_stream(io, config, ddb=ddb, streams=streams)


def history(ddb: Any, table: str = "orders") -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"N": "1"},
                                        "bin": {"B": b"\x00\xff"}, "n": {"N": "12.50"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "b"}, "sk": {"N": "2"},
                                        "tags": {"SS": ["y", "x"]}})
    ddb.update_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                    UpdateExpression="REMOVE bin SET n = :n",
                    ExpressionAttributeValues={":n": {"N": "9" * 38}})
    ddb.delete_item(TableName=table, Key={"pk": {"S": "b"}, "sk": {"N": "2"}})


def test_records_are_committed_exactly(lake: LocalFileIO, clients: Any,
                                       streamed_table: str) -> None:
    history(clients[0])
    result = run(lake, clients)
    rows = committed_rows(lake, "orders")
    assert [r["_op"] for r in rows] == ["INSERT", "INSERT", "MODIFY", "REMOVE"]
    assert result.records == 4 and result.batches == 1 and result.stopped == "caught up"
    first = orjson.loads(rows[0]["_new"])
    assert first["bin"] == {"B": base64.b64encode(b"\x00\xff").decode()}
    assert first["n"] == {"N": "12.50"}
    modified = orjson.loads(rows[2]["_new"])
    assert "bin" not in modified and modified["n"]["N"] == "9" * 38
    assert orjson.loads(rows[2]["_old"])["bin"]["B"] == "AP8="
    assert rows[3]["_new"] is None and orjson.loads(rows[3]["_old"])["tags"]["SS"] == ["x", "y"]
    assert all(len(r["_seq"]) == SEQ_WIDTH for r in rows)
    assert [r["_seq"] for r in rows] == sorted(r["_seq"] for r in rows)
    assert all(r["_source"].startswith("stream:shardId-") and r["_ttl"] is False for r in rows)
    state = load_state(lake, "orders", result.stream_arn)
    assert state is not None and state.pending is None
    assert list(state.positions().values()) == [rows[-1]["_seq"].lstrip("0")]


def test_restart_reads_only_new_records(lake: LocalFileIO, clients: Any,
                                        streamed_table: str) -> None:
    ddb = clients[0]
    history(ddb)
    run(lake, clients, settle_seconds=0)
    ddb.put_item(TableName="orders", Item={"pk": {"S": "c"}, "sk": {"N": "3"}})
    second = run(lake, clients, settle_seconds=0)
    third = run(lake, clients, settle_seconds=0)
    rows = committed_rows(lake, "orders")
    assert second.records == 1 and third.records == 0 and third.batches == 0
    assert len(rows) == 5 and len({r["_seq"] for r in rows}) == 5
    batches = sorted(list_change_batches(lake, "orders"),
                     key=lambda b: b.source["covered_from_us"])
    assert len(batches) == 2
    assert batches[1].source["covered_from_us"] == batches[0].source["covered_to_us"]
    assert batches[1].source["covered_to_us"] >= rows[-1]["_event_us"]
    state = load_state(lake, "orders", second.stream_arn)
    assert state is not None and state.covered_to_us is not None
    assert state.covered_to_us >= batches[1].source["covered_to_us"]  # the idle run moved it


def test_flushes_every_n_records(lake: LocalFileIO, clients: Any, streamed_table: str) -> None:
    history(clients[0])
    result = run(lake, clients, flush_records=2, page_limit=1)
    assert result.batches == 2
    assert sorted(b.rows for b in list_change_batches(lake, "orders")) == [2, 2]


def test_table_without_stream_is_a_clear_error(lake: LocalFileIO, clients: Any) -> None:
    create_table(clients[0], "plain")
    with pytest.raises(UsageError, match="has no DynamoDB stream") as info:
        run(lake, clients, table="plain")
    assert "StreamViewType=NEW_AND_OLD_IMAGES" in (info.value.hint or "")


def test_wrong_view_type_is_a_clear_error(lake: LocalFileIO, clients: Any) -> None:
    create_table(clients[0], "keysonly",
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    with pytest.raises(UsageError, match="KEYS_ONLY; ddblake needs NEW_AND_OLD_IMAGES"):
        run(lake, clients, table="keysonly")


def test_expired_iterator_loses_nothing(lake: LocalFileIO, clients: Any,
                                        streamed_table: str) -> None:
    history(clients[0])
    fault = Inject("ExpiredIteratorException", {2, 3})
    clients[1].meta.events.register_first("before-send.dynamodb-streams.GetRecords", fault)
    result = run(lake, clients, page_limit=1)
    assert fault.injected == 2 and result.expired_iterators == 2
    assert [r["_op"] for r in committed_rows(lake, "orders")] == [
        "INSERT", "INSERT", "MODIFY", "REMOVE"]
    assert result.gaps == []


def test_trimmed_checkpoint_is_reported_as_gap(lake: LocalFileIO, clients: Any,
                                               streamed_table: str) -> None:
    ddb = clients[0]
    history(ddb)
    run(lake, clients)
    ddb.put_item(TableName="orders", Item={"pk": {"S": "z"}, "sk": {"N": "9"}})
    fault = Inject("TrimmedDataAccessException", {1},
                   when=lambda body: body.get("ShardIteratorType") == "AFTER_SEQUENCE_NUMBER")
    clients[1].meta.events.register_first("before-send.dynamodb-streams.GetShardIterator", fault)
    listener = RecordingListener()
    ddb_client, streams = clients
    result = consume_stream(lake, StreamConfig("orders", once=True, poll_seconds=0),
                            ddb=ddb_client, streams=streams, listener=listener)
    assert fault.injected == 1 and len(result.gaps) == 1
    assert "trimmed" in result.gaps[0].reason
    assert any("GAP" in m for m in listener.messages)
    with_gaps = [b for b in list_change_batches(lake, "orders") if b.source["gaps"]]
    assert len(with_gaps) == 1 and with_gaps[0].rows == 1
    assert with_gaps[0].source["gaps"][0]["reason"] == result.gaps[0].reason
    # re-read from TRIM_HORIZON (moto trims nothing): what was committed before is skipped
    # by sequence number, the new record is taken, the gap stays on record.
    rows = committed_rows(lake, "orders")
    assert len(rows) == len({r["_seq"] for r in rows}) == 5
    assert orjson.loads(rows[-1]["_keys"])["pk"]["S"] == "z"
    assert result.duplicates == 4


def test_killed_at_every_step_loses_and_duplicates_nothing(
        tmp_path: Path, clients: Any, streamed_table: str) -> None:
    history(clients[0])
    expected = None
    for die_at in range(1, 40):
        root = tmp_path / f"lake-{die_at}"
        root.mkdir()
        dying = DyingFileIO(root, die_at)
        killed = False
        try:
            run(dying, clients, flush_records=1, page_limit=1)
        except Killed:
            killed = True
        clean = LocalFileIO(root)
        run(clean, clients, flush_records=1, page_limit=1)
        seqs = [r["_seq"] for r in committed_rows(clean, "orders")]
        assert len(seqs) == len(set(seqs)) == 4, f"die_at={die_at}"
        expected = expected or seqs
        assert seqs == expected
        if not killed:
            break
    assert not killed, "the kill loop never reached a clean run"


def test_stop_commits_what_was_read(lake: LocalFileIO, clients: Any,
                                    streamed_table: str) -> None:
    from exporter.streams import StreamConsumer

    history(clients[0])
    config = StreamConfig("orders", flush_seconds=3600, flush_records=1000, poll_seconds=0)
    consumer = StreamConsumer(lake, config, ddb=clients[0], streams=clients[1],
                              sleep=lambda _: consumer.stop())  # "SIGTERM" once idle
    result = consumer.run()
    assert result.stopped == "stopped" and result.records == 4
    assert len(committed_rows(lake, "orders")) == 4


def test_lake_on_s3(clients: Any, streamed_table: str, s3: Any) -> None:
    from lake.fileio import load_file_io

    s3.create_bucket(Bucket="lake")
    io = load_file_io("s3://lake/prod")
    history(clients[0])
    first = run(io, clients)
    clients[0].put_item(TableName="orders", Item={"pk": {"S": "c"}, "sk": {"N": "3"}})
    second = run(io, clients)
    assert (first.records, second.records) == (4, 1)
    batches = list_change_batches(io, "orders")
    assert sorted(b.rows for b in batches) == [1, 4]
    state = load_state(io, "orders", first.stream_arn)
    assert state is not None and state.pending is None and len(state.positions()) == 1


def test_start_latest_skips_the_past_and_coverage_starts_now(
        lake: LocalFileIO, clients: Any, streamed_table: str) -> None:
    import time

    history(clients[0])
    time.sleep(1.2)  # older than the one second of slack kept for approximate event times
    before = time.time_ns() // 1000
    first = run(lake, clients, start="latest")
    assert first.records == 0 and first.covered_from_us is not None
    assert first.covered_from_us >= before
    clients[0].put_item(TableName="orders", Item={"pk": {"S": "new"}, "sk": {"N": "1"}})
    second = run(lake, clients, start="latest")  # no longer a first run: continues
    rows = committed_rows(lake, "orders")
    assert second.records == 1 and [orjson.loads(r["_keys"])["pk"]["S"] for r in rows] == ["new"]


def test_invalid_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="flush_records=0"):
        StreamConfig("orders", flush_records=0)
    with pytest.raises(UsageError, match="not a DynamoDB table name"):
        StreamConfig("x")
