"""A scripted DynamoDB Streams client for what moto cannot do: several shards with lineage
(splits and closed shards), shards that vanish, and records trimmed by retention.

It answers in the botocore-parsed shape (client form, datetimes) and raises real
``ClientError``s with DynamoDB Streams' error codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-22T07:00:00.000"


def error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "scripted"}}, operation)


@dataclass
class Shard:
    shard_id: str
    parent: str | None
    records: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    trimmed_below: int = 0  # records with a lower index are gone


@dataclass
class FakeStreams:
    shards: list[Shard]
    page: int = 2  # DescribeStream page size (pagination is exercised)
    reads: list[str] = field(default_factory=list)
    on_first_read: Any = None  # called with the shard id at its first GetRecords

    def _shard(self, shard_id: str, operation: str) -> Shard:
        for s in self.shards:
            if s.shard_id == shard_id:
                return s
        raise error("ResourceNotFoundException", operation)

    def describe_stream(self, StreamArn: str, ExclusiveStartShardId: str | None = None,
                        **_: Any) -> dict[str, Any]:
        ids = [s.shard_id for s in self.shards]
        begin = ids.index(ExclusiveStartShardId) + 1 if ExclusiveStartShardId else 0
        chunk = self.shards[begin:begin + self.page]
        shards = []
        for s in chunk:
            numbers = {"StartingSequenceNumber": "1"}
            if s.closed:
                numbers["EndingSequenceNumber"] = "9" * 21
            entry: dict[str, Any] = {"ShardId": s.shard_id, "SequenceNumberRange": numbers}
            if s.parent:
                entry["ParentShardId"] = s.parent
            shards.append(entry)
        description: dict[str, Any] = {
            "StreamArn": StreamArn, "StreamStatus": "ENABLED",
            "StreamViewType": "NEW_AND_OLD_IMAGES", "Shards": shards,
            "CreationRequestDateTime": datetime(2026, 11, 22, 7, 0, tzinfo=UTC)}
        if begin + self.page < len(self.shards):
            description["LastEvaluatedShardId"] = chunk[-1].shard_id
        return {"StreamDescription": description}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str,
                           SequenceNumber: str | None = None) -> dict[str, Any]:
        shard = self._shard(ShardId, "GetShardIterator")
        if ShardIteratorType == "TRIM_HORIZON":
            index = shard.trimmed_below
        elif ShardIteratorType == "LATEST":
            index = len(shard.records)
        else:
            numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in shard.records]
            after = int(str(SequenceNumber))
            index = sum(1 for n in numbers if n <= after)
            if index < shard.trimmed_below:
                raise error("TrimmedDataAccessException", "GetShardIterator")
        return {"ShardIterator": f"{ShardId}|{index}"}

    def get_records(self, ShardIterator: str, Limit: int = 1000) -> dict[str, Any]:
        shard_id, index_text = ShardIterator.split("|")
        shard = self._shard(shard_id, "GetRecords")
        index = int(index_text)
        if shard_id not in self.reads and self.on_first_read:
            self.on_first_read(shard_id)
        self.reads.append(shard_id)
        if index < shard.trimmed_below:
            raise error("TrimmedDataAccessException", "GetRecords")
        records = shard.records[index:index + Limit]
        response: dict[str, Any] = {"Records": records}
        end = index + len(records)
        if not (shard.closed and end >= len(shard.records)):
            response["NextShardIterator"] = f"{shard_id}|{end}"
        return response


class FakeTable:
    """DescribeTable for a table with a NEW_AND_OLD_IMAGES stream."""

    def describe_table(self, TableName: str) -> dict[str, Any]:
        return {"Table": {
            "TableName": TableName, "LatestStreamArn": ARN,
            "StreamSpecification": {"StreamEnabled": True,
                                    "StreamViewType": "NEW_AND_OLD_IMAGES"},
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}}


def record(seq: int, pk: str, second: int, value: str) -> dict[str, Any]:
    """A MODIFY record in client form (event time: 2026-11-22T07:00:<second>Z)."""
    item = {"pk": {"S": pk}, "v": {"S": value}}
    return {"eventID": str(seq), "eventName": "MODIFY", "eventSource": "aws:dynamodb",
            "dynamodb": {"ApproximateCreationDateTime": datetime(2026, 11, 22, 7, 0, second,
                                                                 tzinfo=UTC),
                         "Keys": {"pk": {"S": pk}}, "NewImage": item, "OldImage": item,
                         "SequenceNumber": f"{seq:021d}", "SizeBytes": 50,
                         "StreamViewType": "NEW_AND_OLD_IMAGES"}}
