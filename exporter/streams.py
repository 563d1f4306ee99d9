"""The DynamoDB Streams consumer: a table's stream -> committed change batches in the lake.

All shards are read, parents before children (a child shard is opened only once its parent is
finished and committed). Records are buffered and flushed as one change batch every
``flush_seconds`` or ``flush_records``; shard positions are checkpointed in the lake's
``state/`` only after the batch commits (at-least-once), and a restart continues after the
checkpoint and skips any record at or before it (so nothing is written twice). Trimmed data is
recorded as a gap in the next batch, never hidden.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from exporter.stream_records import check_view_type
from exporter.stream_shards import ShardReader, describe_stream
from exporter.stream_state import (
    Gap,
    ShardState,
    StreamState,
    apply_commit,
    load_state,
    recover_pending,
    save_state,
)
from lake import layout
from lake.aws import translate
from lake.fileio import FileIO
from lake.progress import NullListener, ProgressListener
from lake.writers import write_change_batch
from schemas.changes import ChangeRecord
from schemas.errors import UsageError
from schemas.keys import KeySchema

RETENTION_US = 24 * 3600 * 1_000_000  # DynamoDB Streams keep records for 24 hours
TRIM_MARGIN_US = 5 * 60 * 1_000_000
TASK = "stream records"


@dataclass(frozen=True)
class StreamConfig:
    """How one ``ddblake stream`` run behaves."""

    table: str
    flush_seconds: float = 60.0
    flush_records: int = 10_000
    max_seconds: float | None = None  # stop (after a final flush) after this long
    once: bool = False  # stop as soon as every shard is caught up and committed
    start: str = "trim_horizon"  # first run only: trim_horizon (all 24 h) or latest
    poll_seconds: float = 1.0
    settle_seconds: float = 1.0  # a caught-up shard counts as complete up to now minus this
    refresh_seconds: float = 60.0  # how often to look for new shards
    page_limit: int = 1000

    def __post_init__(self) -> None:
        layout.check_table_name(self.table)
        checks = [(self.flush_seconds > 0, "flush_seconds", self.flush_seconds),
                  (self.flush_records >= 1, "flush_records", self.flush_records),
                  (self.max_seconds is None or self.max_seconds > 0, "max_seconds",
                   self.max_seconds),
                  (self.start in ("trim_horizon", "latest"), "start", self.start),
                  (1 <= self.page_limit <= 1000, "page_limit", self.page_limit),
                  (self.poll_seconds >= 0 and self.settle_seconds >= 0, "poll/settle seconds",
                   (self.poll_seconds, self.settle_seconds))]
        for ok, name, value in checks:
            if not ok:
                raise UsageError(f"invalid stream setting {name}={value!r}",
                                 hint="flush values and max_seconds must be positive; start is "
                                      "trim_horizon or latest; page_limit is 1..1000")


@dataclass
class StreamResult:
    table: str
    stream_arn: str
    batches: int = 0
    records: int = 0
    duplicates: int = 0
    expired_iterators: int = 0
    gaps: list[Gap] = field(default_factory=list)
    covered_from_us: int | None = None
    covered_to_us: int | None = None
    stopped: str = ""


def micros(seconds: float) -> int:
    return int(seconds * 1_000_000)


def open_stream(ddb: Any, table: str) -> tuple[str, KeySchema]:
    """The table's stream ARN and key schema; clear errors when there is no usable stream."""
    try:
        description = ddb.describe_table(TableName=table)["Table"]
    except (ClientError, BotoCoreError) as e:
        raise translate(e, action="describe", resource=f"table {table}") from e
    spec = description.get("StreamSpecification") or {}
    if not spec.get("StreamEnabled") or not description.get("LatestStreamArn"):
        raise UsageError(
            f"table {table} has no DynamoDB stream",
            hint=f"enable one: aws dynamodb update-table --table-name {table} "
                 "--stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES")
    check_view_type(spec.get("StreamViewType"), f"table {table}")
    return str(description["LatestStreamArn"]), KeySchema.from_description(description)


class StreamConsumer:
    """Consumes one table's stream into ``io``; see :func:`consume_stream`."""

    def __init__(self, io: FileIO, config: StreamConfig, *, ddb: Any, streams: Any,
                 listener: ProgressListener | None = None,
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.io, self.config, self.ddb, self.streams = io, config, ddb, streams
        self.listener = listener or NullListener()
        self.clock, self.sleep = clock, sleep
        self.readers: dict[str, ShardReader] = {}
        self.buffer: list[ChangeRecord] = []
        self.gaps: list[Gap] = []
        self.reset: dict[str, str | None] = {}
        self.dropped: set[str] = set()
        self.unseen_parents: set[str] = set()
        self.last_refresh = float("-inf")
        self.stopping = False

    def stop(self) -> None:
        """Ask a running consumer to commit what it has read and return (signal-safe)."""
        self.stopping = True

    def _start(self) -> None:
        arn, self.keys = open_stream(self.ddb, self.config.table)
        state = load_state(self.io, self.config.table, arn)
        self.fresh = state is None
        self.state = state or StreamState(self.config.table, arn)
        if recover_pending(self.io, self.state):
            self.listener.message("adopted a batch committed just before the last stop")
        self.result = StreamResult(self.config.table, arn)

    def run(self) -> StreamResult:
        self._start()
        self.listener.started(TASK, unit="records")
        began = last_flush = self.clock()
        while True:
            now = self.clock()
            if now - self.last_refresh >= self.config.refresh_seconds:
                self._refresh(now)
            progressed = self._read_round()
            now = self.clock()
            limit = self.config.max_seconds is not None and now - began >= self.config.max_seconds
            closed = any(r.closed for r in self.readers.values())
            if (len(self.buffer) >= self.config.flush_records or limit or closed
                    or now - last_flush >= self.config.flush_seconds):
                self._flush(now)
                last_flush = now
            if limit or self.stopping:
                if self.stopping:
                    self._flush(now)
                return self._finish("time limit" if limit else "stopped")
            if self.config.once and self._idle():
                self._flush(now)
                self._refresh(now)
                if self._idle():
                    return self._finish("caught up")
            if not progressed:
                self.sleep(self.config.poll_seconds)

    def _finish(self, why: str) -> StreamResult:
        self.listener.finished(TASK)
        self.result.stopped = why
        self.result.covered_from_us = self.state.covered_from_us
        self.result.covered_to_us = self.state.covered_to_us
        return self.result

    def _refresh(self, now: float) -> None:
        """Look for shards: new ones get a reader, vanished unfinished ones become gaps."""
        first = self.last_refresh == float("-inf")
        self.last_refresh = now
        description, shards = describe_stream(self.streams, self.state.stream_arn)
        if self.fresh and self.state.covered_from_us is None:
            self.state.covered_from_us = self._initial_coverage(description, now)
            if self.config.start == "latest":  # approximate event times: keep a second more
                self.state.skip_before_us = self.state.covered_from_us - 1_000_000
        listed = {s["ShardId"] for s in shards}
        for shard in shards:
            self._check_parent(shard.get("ParentShardId"), listed, now)
            self._adopt(shard, latest=first and self.fresh and self.config.start == "latest")
        for sid, known in list(self.state.shards.items()):
            if sid not in listed and sid not in self.dropped:
                if not known.done:
                    self._gap(sid, "the shard expired before it was fully read", now)
                self.dropped.add(sid)
                self.readers.pop(sid, None)

    def _check_parent(self, parent: str | None, listed: set[str], now: float) -> None:
        """A shard whose parent this consumer never saw, and which is gone: the parent's
        records expired unread (the consumer was stopped too long)."""
        if (self.fresh or parent is None or parent in listed or self.state.knows(parent)
                or parent in self.dropped or parent in self.unseen_parents):
            return
        self.unseen_parents.add(parent)
        self._gap(parent, f"shard {parent} expired before it was read", now)

    def _initial_coverage(self, description: dict[str, Any], now: float) -> int:
        if self.config.start == "latest":
            return micros(now)
        created = description.get("CreationRequestDateTime")
        oldest = micros(now) - RETENTION_US + TRIM_MARGIN_US
        if isinstance(created, datetime):
            return max(micros(created.timestamp()), oldest)
        return micros(now)

    def _adopt(self, shard: dict[str, Any], *, latest: bool) -> None:
        sid = shard["ShardId"]
        known = self.state.shards.get(sid)
        if sid in self.readers or (known is not None and known.done) or sid in self.dropped:
            return
        closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
        start = "TRIM_HORIZON"
        if latest:
            if closed:
                self.state.shards[sid] = ShardState(done=True)
                return
            start = "LATEST"
        self.readers[sid] = ShardReader(self.state.stream_arn, sid, shard.get("ParentShardId"),
                                        known.seq if known else None, start,
                                        floor=known.floor if known else None,
                                        skip_before_us=self.state.skip_before_us)

    def _readable(self) -> list[ShardReader]:
        return [r for r in self.readers.values()
                if not r.closed and (r.parent is None or r.parent not in self.readers)]

    def _read_round(self) -> bool:
        """One GetRecords call on every readable shard; True when records arrived."""
        progressed = False
        for reader in self._readable():
            now = self.clock()
            outcome = reader.read(self.streams, limit=self.config.page_limit, now=now)
            if outcome.lost:
                self._gap(reader.shard_id, outcome.lost, now)
                self.reset[reader.shard_id] = reader.floor
            if outcome.gone:
                if not reader.closed:
                    self._gap(reader.shard_id, "the shard vanished before it was fully read", now)
                self.dropped.add(reader.shard_id)
                del self.readers[reader.shard_id]
                continue
            self.result.duplicates += outcome.duplicates
            self.result.expired_iterators += reader.expired
            reader.expired = 0
            if outcome.records:
                progressed = True
                self.buffer += outcome.records
                self.listener.advanced(TASK, len(outcome.records))
            progressed = progressed or reader.closed
        return progressed

    def _gap(self, shard: str, reason: str, now: float) -> None:
        start = self.state.covered_to_us or self.state.covered_from_us or micros(now)
        end = micros(now) - RETENTION_US + TRIM_MARGIN_US
        gap = Gap(shard, start, end if end > start else micros(now), reason)
        self.gaps.append(gap)
        self.result.gaps.append(gap)
        self.listener.message(f"GAP in the change log: {reason}")

    def _idle(self) -> bool:
        """Every shard that can be read was read to its end, and no finished shard waits for
        its commit (which would let its children be read)."""
        return (all(r.idle_since is not None for r in self._readable())
                and not any(r.closed for r in self.readers.values()))

    def _covered_to(self, now: float) -> int:
        settle = micros(self.config.settle_seconds)
        limits = [r.covered_to_us(settle) for r in self.readers.values() if not r.closed]
        known = [v for v in limits if v is not None]
        previous = self.state.covered_to_us or self.state.covered_from_us or micros(now)
        if any(v is None for v in limits):
            known.append(previous)
        target = min(known) if known else micros(now) - settle
        return max(target, previous)

    def _flush(self, now: float) -> None:
        """Commit what was read; then, and only then, move the checkpoint."""
        finished = sorted(sid for sid, r in self.readers.items() if r.closed)
        positions = {sid: r.position for sid, r in self.readers.items()
                     if r.buffered and r.position is not None}
        pending: dict[str, Any] = {
            "positions": positions, "done": finished, "reset": dict(self.reset),
            "dropped": sorted(self.dropped), "unseen": sorted(self.unseen_parents),
            "covered_from_us": self.state.covered_from_us,
            "covered_to_us": self._covered_to(now)}
        if self.buffer or self.gaps:
            self._commit(pending, now)
        else:
            apply_commit(self.state, pending, batch=False)
        save_state(self.io, self.state)
        for sid in finished:
            del self.readers[sid]
        for reader in self.readers.values():
            reader.buffered = False
        self.buffer, self.gaps = [], []
        self.reset, self.dropped, self.unseen_parents = {}, set(), set()

    def _commit(self, pending: dict[str, Any], now: float) -> None:
        batch_id = self._batch_id(now)
        pending["batch_id"] = batch_id
        self.state.pending = pending
        save_state(self.io, self.state)  # write-ahead: a restart can tell if this committed
        batch_from = self.state.batch_to_us or self.state.covered_from_us
        source = {"kind": "stream", "stream_arn": self.state.stream_arn,
                  "stream_label": self.state.label, "covered_from_us": batch_from,
                  "covered_to_us": pending["covered_to_us"],
                  "gaps": [g.to_dict() for g in self.gaps]}
        batch, committed = write_change_batch(
            self.io, self.config.table, self.keys, self.buffer, source=source,
            positions={**self.state.positions(), **pending["positions"]}, batch_id=batch_id)
        apply_commit(self.state, pending)
        if committed:
            self.result.batches += 1
            self.result.records += batch.rows
            self.listener.message(f"committed change batch {batch_id}: {batch.rows} records")
        else:
            self.listener.message(f"change batch {batch_id} was already committed; skipped")

    def _batch_id(self, now: float) -> str:
        if self.buffer:
            first = min(self.buffer, key=lambda r: (r.event_us, r.seq))
            when = datetime.fromtimestamp(first.event_us / 1_000_000, UTC)
            return layout.derived_id(when, self.state.label, first.source, first.seq)
        when = datetime.fromtimestamp(now, UTC)
        return layout.derived_id(when, self.state.label, *(repr(g) for g in self.gaps))


def consume_stream(io: FileIO, config: StreamConfig, *, ddb: Any, streams: Any,
                   listener: ProgressListener | None = None) -> StreamResult:
    """Run the consumer until caught up (``once``), ``max_seconds``, or interrupted."""
    return StreamConsumer(io, config, ddb=ddb, streams=streams, listener=listener).run()
