"""The stream consumer's checkpoint: ``<table>/state/stream/<stream-label>.json``.

It records, per shard, the last sequence number whose record is in a *committed* change batch,
and whether the shard is finished (closed and fully committed). It is written only after a
batch commits, so a crash re-reads records (at-least-once); a write-ahead ``pending`` entry
names the batch about to be committed so that a restart can tell whether that commit happened
and adopt its positions instead of writing the same records twice.

Coverage bookkeeping: ``covered_from_us``..``covered_to_us`` is the span of event time over which
the committed log is complete (gaps excepted, each recorded in the batch that follows it);
``batch_to_us`` is where the last committed batch's coverage ended, so batches chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from lake import layout
from lake.fileio import FileIO
from schemas.errors import ManifestError

STATE_VERSION = 1
RETIRED_KEEP_US = 48 * 3600 * 1_000_000  # remember finished shards past the 24 h retention


@dataclass
class ShardState:
    seq: str | None = None
    done: bool = False
    floor: str | None = None  # after a trim: records at or below this were committed before


@dataclass
class Gap:
    """Event time ``from_us``..``to_us`` whose changes may be missing from the log."""

    shard: str
    from_us: int
    to_us: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"shard": self.shard, "from_us": self.from_us, "to_us": self.to_us,
                "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Gap:
        return cls(str(d["shard"]), int(d["from_us"]), int(d["to_us"]), str(d["reason"]))


@dataclass
class StreamState:
    table: str
    stream_arn: str
    shards: dict[str, ShardState] = field(default_factory=dict)
    covered_from_us: int | None = None
    covered_to_us: int | None = None
    batch_to_us: int | None = None
    gaps: list[Gap] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    retired: dict[str, int] = field(default_factory=dict)  # finished shards gone from the stream
    skip_before_us: int | None = None  # started with --start latest: older records unwanted

    def knows(self, shard_id: str) -> bool:
        return shard_id in self.shards or shard_id in self.retired

    @property
    def label(self) -> str:
        return stream_label(self.stream_arn)

    def positions(self) -> dict[str, str]:
        return {sid: s.seq for sid, s in sorted(self.shards.items()) if s.seq is not None}

    def to_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "table": self.table, "stream_arn": self.stream_arn,
                "shards": {sid: {"seq": s.seq, "done": s.done, "floor": s.floor}
                           for sid, s in sorted(self.shards.items())},
                "covered_from_us": self.covered_from_us, "covered_to_us": self.covered_to_us,
                "batch_to_us": self.batch_to_us, "gaps": [g.to_dict() for g in self.gaps],
                "pending": self.pending, "retired": dict(sorted(self.retired.items())),
                "skip_before_us": self.skip_before_us}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StreamState:
        return cls(str(d["table"]), str(d["stream_arn"]),
                   {sid: ShardState(s.get("seq"), bool(s.get("done")), s.get("floor"))
                    for sid, s in dict(d["shards"]).items()},
                   d.get("covered_from_us"), d.get("covered_to_us"), d.get("batch_to_us"),
                   [Gap.from_dict(g) for g in d.get("gaps") or []], d.get("pending"),
                   {str(k): int(v) for k, v in dict(d.get("retired") or {}).items()},
                   d.get("skip_before_us"))


def stream_label(stream_arn: str) -> str:
    """The stream's label (its creation time) made safe for an object name."""
    return stream_arn.rsplit("/", 1)[-1].replace(":", "-")


def state_key(table: str, stream_arn: str) -> str:
    return layout.state_key(table, f"stream/{stream_label(stream_arn)}.json")


def load_state(io: FileIO, table: str, stream_arn: str) -> StreamState | None:
    key = state_key(table, stream_arn)
    if not io.exists(key):
        return None
    try:
        data = orjson.loads(io.read(key))
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unknown version {data.get('version')!r}")
        return StreamState.from_dict(data)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise ManifestError(f"stream checkpoint {io.full_uri(key)} is unreadable: {e}",
                            hint="move it away to start over from the stream's trim horizon "
                                 "(already committed batches are kept; a replay may add "
                                 "duplicate rows, which as_of tolerates)") from e


def save_state(io: FileIO, state: StreamState) -> None:
    io.write(state_key(state.table, state.stream_arn),
             orjson.dumps(state.to_dict(), option=orjson.OPT_INDENT_2))


def apply_commit(state: StreamState, pending: dict[str, Any], *, batch: bool = True) -> None:
    """Advance the checkpoint past a committed batch described by ``pending`` (``batch``
    False: nothing new was read, only coverage and shard bookkeeping move)."""
    for sid, seq in dict(pending["positions"]).items():
        state.shards.setdefault(sid, ShardState()).seq = str(seq)
    for sid, floor in dict(pending.get("reset") or {}).items():
        if sid not in pending["positions"]:
            shard = state.shards.setdefault(sid, ShardState())
            shard.seq, shard.floor = None, floor
    for sid in pending.get("done") or []:
        state.shards.setdefault(sid, ShardState()).done = True
    now_us = int(pending.get("covered_to_us") or 0)
    for sid in pending.get("dropped") or []:
        known = state.shards.pop(sid, None)
        if known is not None and known.done:
            state.retired[sid] = now_us
    for sid in pending.get("unseen") or []:  # their gap is in the committed batch
        state.retired[sid] = now_us
    state.retired = {sid: at for sid, at in state.retired.items()
                     if at >= now_us - RETIRED_KEEP_US}
    state.covered_to_us = pending.get("covered_to_us", state.covered_to_us)
    if batch:
        state.batch_to_us = pending.get("covered_to_us", state.batch_to_us)
    if state.covered_from_us is None:
        state.covered_from_us = pending.get("covered_from_us")
    state.gaps = []
    state.pending = None


def recover_pending(io: FileIO, state: StreamState) -> bool:
    """After a crash between a batch commit and the checkpoint write: adopt the committed
    batch's positions. Returns True when a committed pending batch was adopted."""
    if not state.pending:
        return False
    committed = io.exists(layout.change_manifest(state.table, str(state.pending["batch_id"])))
    if committed:
        apply_commit(state, state.pending)
    state.pending = None
    save_state(io, state)
    return committed
