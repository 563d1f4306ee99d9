"""Change capture throughput against a moto server on 127.0.0.1.

Measures, in the same run:
  baseline  a bare GetRecords loop over the stream (no conversion, nothing written);
  ddblake   `consume_stream(once=True)` into a local lake (conversion to the canonical
            spine, Parquet, commit, checkpoint);
  lambda    `exporter.lambda_handler.write_event` on 1,000-record events (wire form).

and, without moto (whose GetRecords is slow), our own cost per record: the consumer over an
in-memory Streams client holding RECORDS records, against a bare loop over the same client.

Usage: nice -n 10 .venv/bin/python bench/changes/bench_stream.py [ITEMS] [RECORDS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from ddblake.sampledata import orders
from exporter.lambda_handler import write_event
from exporter.streams import StreamConfig, consume_stream
from lake.aws import make_client
from lake.fileio import LocalFileIO
from schemas.dynamo_json import from_client

TABLE = "bench-orders"


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def setup(items: int) -> tuple[Any, Any]:
    session = boto3.Session(region_name="us-east-1")
    ddb, streams = make_client("dynamodb", session), make_client("dynamodbstreams", session)
    ddb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True,
                                          "StreamViewType": "NEW_AND_OLD_IMAGES"})
    rows = list(orders(items))
    for start in range(0, len(rows), 25):
        chunk = [{"PutRequest": {"Item": {**r, "pk": {"S": f"o{start + i:07d}"}}}}
                 for i, r in enumerate(rows[start:start + 25])]
        ddb.batch_write_item(RequestItems={TABLE: chunk})
    return ddb, streams


def baseline(ddb: Any, streams: Any) -> tuple[int, list[dict[str, Any]]]:
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    count, sample = 0, []
    while it:
        page = streams.get_records(ShardIterator=it, Limit=1000)
        count += len(page["Records"])
        if not sample:
            sample = page["Records"]
        if not page["Records"]:
            break
        it = page.get("NextShardIterator")
    return count, sample


def lambda_event(sample: list[dict[str, Any]], arn: str) -> dict[str, Any]:
    records = []
    for r in sample:
        data = dict(r["dynamodb"])
        data["ApproximateCreationDateTime"] = data["ApproximateCreationDateTime"].timestamp()
        for name in ("Keys", "NewImage", "OldImage"):
            if name in data:
                data[name] = from_client(data[name])
        records.append({**r, "dynamodb": data, "eventSourceARN": arn})
    return {"Records": records}


class MemoryStreams:
    """One open shard holding ``records`` (client form), served 1,000 at a time."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def describe_stream(self, StreamArn: str, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-0",
                                                  "SequenceNumberRange": {}}]}}

    def get_shard_iterator(self, ShardIteratorType: str, SequenceNumber: str = "0",
                           **_: Any) -> dict[str, Any]:
        start = 0 if ShardIteratorType == "TRIM_HORIZON" else int(SequenceNumber)
        return {"ShardIterator": str(start)}

    def get_records(self, ShardIterator: str, Limit: int = 1000) -> dict[str, Any]:
        start = int(ShardIterator)
        page = self.records[start:start + Limit]
        return {"Records": page, "NextShardIterator": str(start + len(page))}


def memory_run(ddb: Any, sample: list[dict[str, Any]], total: int) -> None:
    records = []
    for n in range(total):
        r = sample[n % len(sample)]
        records.append({**r, "dynamodb": {**r["dynamodb"], "SequenceNumber": str(n + 1)}})
    fake = MemoryStreams(records)
    t0 = time.perf_counter()
    it: str | None = fake.get_shard_iterator(ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    seen = 0
    while it is not None:
        page = fake.get_records(ShardIterator=it)
        if not page["Records"]:
            break
        seen += len(page["Records"])
        it = page["NextShardIterator"]
    bare = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = consume_stream(LocalFileIO(tmp), StreamConfig(TABLE, once=True, poll_seconds=0,
                                                               flush_records=10_000),
                                ddb=ddb, streams=fake)
        ours = time.perf_counter() - t0
    print(f"in-memory stream, {seen} records (~{_size(sample)} B each as stream JSON):")
    print(f"  bare loop              : {bare:6.3f} s")
    print(f"  ddblake consumer       : {ours:6.2f} s  {result.records / ours:8.0f} records/s "
          f"({result.batches} batches)")


def _size(sample: list[dict[str, Any]]) -> int:
    return int(sum(r["dynamodb"].get("SizeBytes", 0) for r in sample) / max(len(sample), 1))


def main() -> None:
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    print(f"load average before: {load()}")
    ddb, streams = setup(items)
    t0 = time.perf_counter()
    count, sample = baseline(ddb, streams)
    base_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = consume_stream(LocalFileIO(tmp), StreamConfig(TABLE, once=True, poll_seconds=0,
                                                               flush_records=10_000),
                                ddb=ddb, streams=streams)
        ours_s = time.perf_counter() - t0
        arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        event = lambda_event(sample, arn)
        times = []
        for n in range(5):
            event["Records"][0]["dynamodb"]["SequenceNumber"] = str(10**20 + n)  # new batch id
            t0 = time.perf_counter()
            write_event(LocalFileIO(tmp), event, ddb=ddb)
            times.append(time.perf_counter() - t0)
    print(f"records in stream: {count}; ddblake committed {result.records} in "
          f"{result.batches} batches")
    print(f"baseline GetRecords loop : {base_s:6.2f} s  {count / base_s:8.0f} records/s")
    print(f"ddblake stream --once    : {ours_s:6.2f} s  {result.records / ours_s:8.0f} records/s")
    print(f"lambda write_event x{len(event['Records'])} records: best {min(times) * 1000:.0f} ms, "
          f"median {sorted(times)[2] * 1000:.0f} ms")
    memory_run(ddb, sample, total)
    print(f"load average after: {load()}")
    server.stop()


if __name__ == "__main__":
    main()
