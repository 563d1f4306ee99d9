"""Reading the shards of one DynamoDB stream: discovery, lineage, iterators and their faults.

A :class:`ShardReader` knows one shard's position (the last sequence number read) and turns the
stream's faults into outcomes the consumer can act on:

* ``ExpiredIteratorException``: fetch a new iterator after the last record read (nothing lost);
* ``TrimmedDataAccessException`` (the position is older than the trim horizon) and a shard that
  has vanished before it was finished: a :class:`Gap`, then read on from ``TRIM_HORIZON``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from exporter.stream_records import seq_value, to_change_record
from lake.aws import error_code, translate
from schemas.changes import ChangeRecord

TRIMMED = "TrimmedDataAccessException"
EXPIRED = "ExpiredIteratorException"
GONE = "ResourceNotFoundException"


def describe_stream(streams: Any, stream_arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The stream description and every shard (DescribeStream is paginated)."""
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamArn": stream_arn}
    while True:
        try:
            description = streams.describe_stream(**kwargs)["StreamDescription"]
        except (ClientError, BotoCoreError) as e:
            raise translate(e, action="describe", resource=f"stream {stream_arn}") from e
        shards += description.get("Shards", [])
        last = description.get("LastEvaluatedShardId")
        if not last:
            return description, shards
        kwargs["ExclusiveStartShardId"] = last


@dataclass
class ReadOutcome:
    records: list[ChangeRecord] = field(default_factory=list)
    duplicates: int = 0
    lost: str | None = None  # why data may be missing before these records (a gap)
    gone: bool = False  # the shard no longer exists: drop it


@dataclass
class ShardReader:
    stream_arn: str
    shard_id: str
    parent: str | None
    position: str | None  # last sequence number read (buffered or committed)
    start: str = "TRIM_HORIZON"  # where to begin when there is no position
    floor: str | None = None  # records at or below this were committed before a trim
    skip_before_us: int | None = None  # --start latest: older records are not wanted
    iterator: str | None = None
    closed: bool = False  # fully read: GetRecords returned no next iterator
    idle_since: float | None = None  # caught up as of this wall time (see _take)
    last_empty: float | None = None  # wall time of the last empty page
    last_event_us: int | None = None
    buffered: bool = False  # records read since the last commit
    expired: int = 0

    def _iterator_args(self) -> dict[str, Any]:
        args = {"StreamArn": self.stream_arn, "ShardId": self.shard_id}
        if self.position is not None:
            return {**args, "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                    "SequenceNumber": self.position}
        return {**args, "ShardIteratorType": self.start}

    def _open(self, streams: Any, outcome: ReadOutcome) -> None:
        try:
            self.iterator = streams.get_shard_iterator(**self._iterator_args())["ShardIterator"]
        except ClientError as e:
            code = error_code(e)
            if code == TRIMMED:
                self._trimmed(outcome)
                self.iterator = streams.get_shard_iterator(
                    **self._iterator_args())["ShardIterator"]
            elif code == GONE:
                outcome.gone = True
            else:
                raise translate(e, action="open", resource=f"shard {self.shard_id}") from e

    def _trimmed(self, outcome: ReadOutcome) -> None:
        outcome.lost = (f"shard {self.shard_id}: records after sequence number {self.position} "
                        "were trimmed from the stream (older than its 24-hour retention) before "
                        "they were read")
        if self.position is not None:
            self.floor = self.position
        self.position = None
        self.start = "TRIM_HORIZON"

    def read(self, streams: Any, *, limit: int, now: float) -> ReadOutcome:
        """One GetRecords call (opening or re-opening the iterator as needed)."""
        outcome = ReadOutcome()
        if self.iterator is None:
            self._open(streams, outcome)
            if outcome.gone:
                return outcome
        try:
            page = streams.get_records(ShardIterator=self.iterator, Limit=limit)
        except ClientError as e:
            return self._failed(e, outcome)
        except BotoCoreError as e:
            raise translate(e, action="read", resource=f"shard {self.shard_id}") from e
        self._take(page.get("Records", []), outcome, now)
        self.iterator = page.get("NextShardIterator")
        if self.iterator is None:
            self.closed = True
        return outcome

    def _failed(self, error: ClientError, outcome: ReadOutcome) -> ReadOutcome:
        code = error_code(error)
        self.iterator = None
        if code == EXPIRED:
            self.expired += 1  # re-opened after self.position on the next read
        elif code == TRIMMED:
            self._trimmed(outcome)
        elif code == GONE:
            outcome.gone = True
        else:
            raise translate(error, action="read", resource=f"shard {self.shard_id}") from error
        return outcome

    def _take(self, raw: list[dict[str, Any]], outcome: ReadOutcome, now: float) -> None:
        source = f"stream:{self.shard_id}"
        for record in raw:
            number = str(record["dynamodb"]["SequenceNumber"])
            seen = self.position if self.position is not None else self.floor
            if seen is not None and seq_value(number) <= seq_value(seen):
                outcome.duplicates += 1
                continue
            change = to_change_record(record, source=source, wire=False)
            self.position = number
            self.buffered = True  # the position moved: checkpoint it at the next flush
            if self.skip_before_us is not None and change.event_us < self.skip_before_us:
                continue
            outcome.records.append(change)
            self.last_event_us = change.event_us
        if raw:
            self.idle_since = self.last_empty = None
        else:
            # DynamoDB Streams may return an empty page before the end of a shard, so only a
            # second empty page in a row counts: caught up as of the one before it.
            if self.last_empty is not None:
                self.idle_since = self.last_empty
            self.last_empty = now

    def covered_to_us(self, settle_us: int) -> int | None:
        """Up to when this shard's records have all been read (None: not known yet)."""
        if self.closed:
            return None
        if self.idle_since is not None:
            return int(self.idle_since * 1_000_000) - settle_us
        if self.last_event_us is not None:
            return self.last_event_us - 1
        return None
