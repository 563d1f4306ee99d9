"""A small table history written as a lake in the shape of lake format 2 (docs/decisions/005):
one schema per table that only grows by adding columns, every column with a field id.

The history is the truth the tests check Iceberg readers against: ``state_at(us)`` is the
table at any microsecond. Snapshots write ``state_at(point)``; change batches hold every
event, each row in the items' own columns (the new image) plus the change columns.

TODO(format 2): when lake format 2 lands, write these parts with its encoder instead and
compare with ``ddblake query --as-of`` as well.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from lake import layout
from lake.commit import commit_change_batch, commit_snapshot, write_parquet
from lake.fileio import FileIO
from schemas.changes import ChangeBatch
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Manifest, PartInfo, Source, Totals

Row = dict[str, Any]
KEYS = KeySchema(KeyAttribute("id", "S"))


def _field(name: str, fid: int, kind: pa.DataType, nullable: bool = True) -> pa.Field:
    return pa.field(name, kind, nullable, metadata={b"PARQUET:field_id": str(fid).encode()})


ITEM_FIELDS = [
    _field("id", 1, pa.string(), False),
    _field("price", 2, pa.decimal128(38, 2)),
    _field("qty", 3, pa.int64()),
    _field("tags", 4, pa.list_(_field("element", 5, pa.string()))),
]
NOTE = _field("note", 6, pa.string())  # a column the table gains later
CHANGE_FIELDS = [_field("_event_us", 101, pa.int64(), False), _field("_op", 102, pa.string()),
                 _field("_seq", 103, pa.string()), _field("_old", 104, pa.string())]


def item_schema(with_note: bool) -> pa.Schema:
    return pa.schema([*ITEM_FIELDS, NOTE] if with_note else ITEM_FIELDS)


def change_schema(with_note: bool) -> pa.Schema:
    return pa.schema([*CHANGE_FIELDS, *item_schema(with_note)])


def iso(us: int) -> str:
    seconds, micros = divmod(us, 1_000_000)
    when = datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Event:
    us: int
    op: str
    key: str
    new: Row | None
    old: Row | None


@dataclass
class History:
    """Events in time order (µs since the epoch)."""

    table: str = "orders"
    events: list[Event] = field(default_factory=list)
    _seq: int = 0

    def state_at(self, us: int) -> dict[str, Row]:
        state: dict[str, Row] = {}
        for e in self.events:
            if e.us > us:
                break
            if e.new is None:
                state.pop(e.key, None)
            else:
                state[e.key] = e.new
        return state

    def write(self, us: int, key: str, new: Row | None) -> None:
        old = self.state_at(us).get(key)
        op = "REMOVE" if new is None else ("INSERT" if old is None else "MODIFY")
        if new is not None:
            new = {"id": key, **new}
        self.events.append(Event(us, op, key, new, old))
        self.events.sort(key=lambda e: e.us)


def _rows_table(rows: list[Row], schema: pa.Schema) -> pa.Table:
    names = schema.names
    return pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows], schema=schema)


def _part(io: FileIO, key: str, rows: list[Row], schema: pa.Schema,
          relative: str) -> PartInfo:
    size, sha = write_parquet(io, key, _rows_table(rows, schema))
    return PartInfo(relative, len(rows), size, sha, hashlib.sha256(sha.encode()).hexdigest())


def write_snapshot(io: FileIO, history: History, snapshot_id: str, *, start_us: int,
                   end_us: int, kind: str = "exact", with_note: bool = True,
                   parts: int = 2) -> Manifest:
    """Commit a snapshot holding ``state_at(end_us)``, split into ``parts`` parts."""
    rows = sorted(history.state_at(end_us).values(), key=lambda r: r["id"])
    infos = []
    for n in range(parts):
        chunk = rows[n::parts]
        relative = layout.part_name(0, n)
        key = layout.snapshot_part(history.table, snapshot_id, relative)
        infos.append(_part(io, key, chunk, item_schema(with_note), relative))
    method = "export" if kind == "exact" else "scan"
    manifest = Manifest(
        snapshot_id=snapshot_id, table=history.table, created_at=iso(end_us), tool_version="t",
        source=Source(history.table, method), consistency=Consistency(kind, iso(start_us),
                                                                      iso(end_us)),
        key_schema=KEYS, table_description={}, parts=tuple(infos), columns=(),
        totals=Totals(len(rows), sum(p.bytes for p in infos), 0, "0" * 64))
    commit_snapshot(io, manifest)
    return manifest


def _change_row(e: Event, seq: int) -> Row:
    image = e.new or {"id": e.key}
    old = orjson.dumps(e.old, default=str).decode() if e.old else None
    return {**image, "_event_us": e.us, "_op": e.op, "_seq": f"{seq:020d}", "_old": old}


def write_batch(io: FileIO, history: History, batch_id: str, first_us: int, last_us: int, *,
                with_note: bool = True) -> ChangeBatch:
    """Commit the events in ``first_us..last_us`` as one change batch."""
    events = [e for e in history.events if first_us <= e.us <= last_us]
    rows = [_change_row(e, history.events.index(e)) for e in events]
    relative = layout.change_part_name(batch_id, 0)
    info = _part(io, layout.table_key(history.table, relative), rows,
                 change_schema(with_note), relative)
    batch = ChangeBatch(batch_id, history.table, iso(last_us), "t", {"kind": "test"}, KEYS,
                        first_us, last_us, (info,), len(rows), {})
    assert commit_change_batch(io, batch)
    return batch


def snapshot_id_at(us: int, tag: str) -> str:
    when = datetime.fromtimestamp(us // 1_000_000, UTC)
    return layout.derived_id(when, tag)
