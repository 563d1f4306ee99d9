"""Shard lineage, vanished shards and trimmed records, with a scripted Streams client."""

from __future__ import annotations

from typing import Any

from exporter.stream_state import load_state
from exporter.streams import StreamConfig, StreamResult, consume_stream
from lake.catalog import list_change_batches
from lake.coverage import coverage
from lake.fileio import LocalFileIO
from tests.changes.fake_streams import ARN, FakeStreams, FakeTable, Shard, record
from tests.changes.lakeread import committed_rows


def run(io: LocalFileIO, streams: FakeStreams, **settings: Any) -> StreamResult:
    config = StreamConfig("orders", once=True, poll_seconds=0, refresh_seconds=0, **settings)
    return consume_stream(io, config, ddb=FakeTable(), streams=streams)


def test_parents_are_committed_before_children_are_read(lake: LocalFileIO) -> None:
    parent = Shard("shard-p", None, [record(1, "k", 1, "p1"), record(2, "k", 2, "p2"),
                                     record(3, "j", 2, "p3")], closed=True)
    left = Shard("shard-c1", "shard-p", [record(10, "k", 3, "c1"), record(11, "j", 3, "c1")])
    right = Shard("shard-c2", "shard-p", [record(12, "m", 3, "c2")], closed=True)
    grandchild = Shard("shard-g", "shard-c2", [record(20, "m", 4, "g")])
    checked: list[str] = []

    def parent_done(shard_id: str) -> None:
        parents = {"shard-c1": "shard-p", "shard-c2": "shard-p", "shard-g": "shard-c2"}
        if shard_id in parents:
            state = load_state(lake, "orders", ARN)
            assert state is not None and state.shards[parents[shard_id]].done, shard_id
            checked.append(shard_id)

    streams = FakeStreams([grandchild, right, left, parent], on_first_read=parent_done)
    result = run(lake, streams, page_limit=1)
    assert sorted(checked) == ["shard-c1", "shard-c2", "shard-g"]
    assert streams.reads.index("shard-c2") < streams.reads.index("shard-g")
    rows = committed_rows(lake, "orders")
    assert [int(r["_seq"]) for r in rows] == [1, 2, 3, 10, 11, 12, 20]
    assert result.records == 7 and result.gaps == []
    state = load_state(lake, "orders", ARN)
    assert state is not None
    assert {sid for sid, s in state.shards.items() if s.done} == {"shard-p", "shard-c2"}
    again = run(lake, streams)
    assert again.records == 0 and len(committed_rows(lake, "orders")) == 7


def test_vanished_unfinished_shard_is_a_gap(lake: LocalFileIO) -> None:
    old = Shard("shard-a", None, [record(1, "k", 1, "a"), record(2, "k", 2, "b")])
    streams = FakeStreams([old])
    run(lake, streams)
    streams.shards = [Shard("shard-b", None, [record(30, "k", 9, "c")])]
    result = run(lake, streams)
    assert [g.shard for g in result.gaps] == ["shard-a"]
    assert "expired before it was fully read" in result.gaps[0].reason
    state = load_state(lake, "orders", ARN)
    assert state is not None and set(state.shards) == {"shard-b"}
    assert coverage(lake, "orders").gaps[0].reason == result.gaps[0].reason
    assert [int(r["_seq"]) for r in committed_rows(lake, "orders")] == [1, 2, 30]


def test_records_trimmed_before_they_were_read_are_a_gap(lake: LocalFileIO) -> None:
    shard = Shard("shard-a", None, [record(1, "k", 1, "a"), record(2, "k", 2, "b")])
    streams = FakeStreams([shard])
    run(lake, streams)
    shard.records += [record(3, "k", 3, "lost"), record(4, "k", 4, "kept")]
    shard.trimmed_below = 3  # records 1..3 fell out of the 24-hour retention
    result = run(lake, streams)
    assert len(result.gaps) == 1 and "trimmed" in result.gaps[0].reason
    assert [int(r["_seq"]) for r in committed_rows(lake, "orders")] == [1, 2, 4]
    gap_batches = [b for b in list_change_batches(lake, "orders") if b.source["gaps"]]
    assert len(gap_batches) == 1
    cov = coverage(lake, "orders")
    assert cov.gaps and not any(  # no stretch of "complete" log overlaps the gap
        i.start_us <= g.end_us and i.end_us >= g.start_us for g in cov.gaps for i in cov.log)


def test_manifests_match_the_json_schema(lake: LocalFileIO) -> None:
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "schemas" /
                         "change_batch.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    shard = Shard("shard-a", None, [record(1, "k", 1, "a"), record(2, "k", 2, "b")])
    streams = FakeStreams([shard])
    run(lake, streams)
    shard.records += [record(3, "k", 3, "lost"), record(4, "k", 4, "kept")]
    shard.trimmed_below = 3
    run(lake, streams)
    manifests = list(lake.iter_objects("orders/changes/_manifests/"))
    assert len(manifests) == 2
    for info in manifests:
        jsonschema.validate(json.loads(lake.read(info.key)), schema)
    bad = json.loads(lake.read(manifests[0].key))
    bad["source"]["gaps"] = [{"from_us": "yesterday"}]
    try:
        jsonschema.validate(bad, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("a malformed gap passed the schema")


def test_one_empty_page_is_not_caught_up() -> None:
    from exporter.stream_shards import ShardReader

    streams = FakeStreams([Shard("shard-a", None, [])])
    reader = ShardReader(ARN, "shard-a", None, None)
    reader.read(streams, limit=10, now=100.0)
    assert reader.idle_since is None and reader.covered_to_us(0) is None
    reader.read(streams, limit=10, now=101.0)
    assert reader.idle_since == 100.0 and reader.covered_to_us(0) == 100_000_000
    streams.shards[0].records.append(record(5, "k", 1, "x"))
    assert len(reader.read(streams, limit=10, now=102.0).records) == 1
    assert reader.idle_since is None and reader.covered_to_us(0) == reader.last_event_us - 1  # type: ignore[operator]


def test_parent_that_expired_unseen_is_a_gap_once(lake: LocalFileIO) -> None:
    streams = FakeStreams([Shard("shard-a", None, [record(1, "k", 1, "a")], closed=True)])
    run(lake, streams)
    # while the consumer was stopped, shard-b (child of a) came and expired unread
    streams.shards = [Shard("shard-c", "shard-b", [record(40, "k", 9, "c")])]
    second = run(lake, streams)
    assert [(g.shard, g.reason) for g in second.gaps] == [
        ("shard-b", "shard shard-b expired before it was read")]
    assert [int(r["_seq"]) for r in committed_rows(lake, "orders")] == [1, 40]
    third = run(lake, streams)
    assert third.gaps == []  # recorded once, in the lake, not again on every start
    state = load_state(lake, "orders", ARN)
    assert state is not None and "shard-a" in state.retired and "shard-b" in state.retired


def test_child_of_a_finished_parent_is_no_gap(lake: LocalFileIO) -> None:
    streams = FakeStreams([Shard("shard-a", None, [record(1, "k", 1, "a")], closed=True)])
    run(lake, streams)
    streams.shards = [Shard("shard-c", "shard-a", [record(40, "k", 9, "c")])]
    assert run(lake, streams).gaps == []
