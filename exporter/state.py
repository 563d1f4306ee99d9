"""Resumable state of an export in progress, under the table's ``state/`` folder.

::

    <table>/state/exports/<snapshot-id>/export.json        the run: segments, scan start
    <table>/state/exports/<snapshot-id>/segment-<n>.json   one checkpoint per segment
    <table>/state/exports/<snapshot-id>/lock.json          held by the run (lake.joblock)

A segment's checkpoint is written after each part upload: the ``LastEvaluatedKey`` of the
last page in that part, the parts written so far (their :class:`PartInfo` and column
decisions), and whether the segment is done. A crash between a part upload and its
checkpoint only means the part is written again under the same deterministic name.
The state is deleted once the manifest is committed. Every run of an export (the first
and each ``--resume``) holds the export's lock (:func:`lock_export`) before it writes any
state, so two runs never write one export's checkpoints at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from lake import layout
from lake.fileio import FileIO
from lake.joblock import JobLock, acquire, lock_key
from schemas import names
from schemas.dynamo_json import Item
from schemas.errors import ManifestError
from schemas.keys import KeySchema
from schemas.manifest import PartInfo, checked_parts
from schemas.projection import ColumnDecision
from schemas.table_schema import AttributeStats

STATE_VERSION = 1


def exports_prefix(table: str) -> str:
    return layout.state_key(table, "exports/")


def export_prefix(table: str, snapshot_id: str) -> str:
    return layout.state_key(table, f"exports/{snapshot_id}/")


def run_key(table: str, snapshot_id: str) -> str:
    return layout.state_key(table, f"exports/{snapshot_id}/export.json")


def export_lock_key(table: str, snapshot_id: str) -> str:
    return lock_key(export_prefix(table, snapshot_id))


def lock_export(io: FileIO, table: str, snapshot_id: str) -> JobLock:
    """Hold export ``snapshot_id`` of ``table`` (BusyError when another run holds it)."""
    return acquire(io, export_lock_key(table, snapshot_id),
                   job=f"export {snapshot_id} of table {table}", command="export")


def segment_key(table: str, snapshot_id: str, segment: int) -> str:
    return layout.state_key(table, f"exports/{snapshot_id}/segment-{segment}.json")


@dataclass(frozen=True)
class RunState:
    """What every segment of one export shares."""

    snapshot_id: str
    table: str
    segments: int
    consistent_read: bool
    started_at: str
    keys: KeySchema
    table_description: dict[str, Any]
    lake_format: int = 1
    schema_id: int | None = None  # format 2: the table's schema when the export began

    def to_bytes(self) -> bytes:
        return orjson.dumps({"version": STATE_VERSION, "snapshot_id": self.snapshot_id,
                             "table": self.table, "segments": self.segments,
                             "consistent_read": self.consistent_read,
                             "started_at": self.started_at, "keys": self.keys.to_dict(),
                             "table_description": self.table_description,
                             "lake_format": self.lake_format, "schema_id": self.schema_id})

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> RunState:
        try:
            d = orjson.loads(data)
            schema_id = d.get("schema_id")
            return cls(names.lake_id(d["snapshot_id"], what="snapshot_id"),
                       names.table_name(d["table"], what="table"), int(d["segments"]),
                       bool(d["consistent_read"]), d["started_at"],
                       KeySchema.from_dict(d["keys"]), d["table_description"],
                       int(d.get("lake_format", 1)),
                       None if schema_id is None else int(schema_id))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ManifestError(f"export state {what} is unreadable: {e}",
                                hint="delete it (ddblake gc) and export again") from e


@dataclass
class Checkpoint:
    """Where one segment stands."""

    segment: int
    last_key: Item | None = None
    parts: list[PartInfo] = field(default_factory=list)
    columns: list[list[ColumnDecision]] = field(default_factory=list)
    item_bytes: int = 0
    done: bool = False
    schema_id: int | None = None  # format 2: the schema of this segment's parts
    stats: AttributeStats = field(default_factory=AttributeStats)

    @property
    def items(self) -> int:
        return sum(p.rows for p in self.parts)

    def to_bytes(self) -> bytes:
        return orjson.dumps({
            "version": STATE_VERSION, "segment": self.segment, "last_key": self.last_key,
            "parts": [p.to_dict() for p in self.parts],
            "columns": [[c.to_dict() for c in cols] for cols in self.columns],
            "item_bytes": self.item_bytes, "done": self.done, "schema_id": self.schema_id,
            "stats": self.stats.to_dict()})

    @classmethod
    def from_bytes(cls, data: bytes, what: str) -> Checkpoint:
        try:
            d = orjson.loads(data)
            schema_id = d.get("schema_id")
            return cls(int(d["segment"]), d.get("last_key"),
                       list(checked_parts(d["parts"], under="data")),
                       [[ColumnDecision.from_dict(c) for c in cols] for cols in d["columns"]],
                       int(d["item_bytes"]), bool(d["done"]),
                       None if schema_id is None else int(schema_id),
                       AttributeStats.from_dict(d.get("stats") or {}))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ManifestError(f"checkpoint {what} is unreadable: {e}",
                                hint="delete the export state (ddblake gc) and export "
                                     "again") from e


def save_run(io: FileIO, run: RunState) -> None:
    io.write(run_key(run.table, run.snapshot_id), run.to_bytes())


def load_run(io: FileIO, table: str, snapshot_id: str) -> RunState:
    key = run_key(table, snapshot_id)
    return RunState.from_bytes(io.read(key), io.full_uri(key))


def save_checkpoint(io: FileIO, table: str, snapshot_id: str, checkpoint: Checkpoint) -> None:
    io.write(segment_key(table, snapshot_id, checkpoint.segment), checkpoint.to_bytes())


def load_checkpoint(io: FileIO, table: str, snapshot_id: str, segment: int) -> Checkpoint:
    key = segment_key(table, snapshot_id, segment)
    if not io.exists(key):
        return Checkpoint(segment)
    return Checkpoint.from_bytes(io.read(key), io.full_uri(key))


def pending_exports(io: FileIO, table: str) -> list[str]:
    """Snapshot ids with saved export state, oldest first (committed or not)."""
    return [name for name in io.list_dirs(exports_prefix(table)) if layout.is_id(name)]


def delete_state(io: FileIO, table: str, snapshot_id: str) -> int:
    """Remove one export's state but its lock (its holder releases that); return how many
    objects went."""
    lock = export_lock_key(table, snapshot_id)
    keys = [info.key for info in io.iter_objects(export_prefix(table, snapshot_id))
            if info.key != lock]
    for key in keys:
        io.delete(key)
    return len(keys)
