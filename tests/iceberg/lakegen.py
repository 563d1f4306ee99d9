"""A small table history written to a lake by ddblake's own format 2 writers.

Snapshots go through :class:`lake.writers.SnapshotWriter` (``encode``: the exporter's
``RowPartBuilder`` against the table's schema in the lake, schema 1 from the first part,
schema ``n+1`` at each commit that saw new attributes); change batches through
:func:`lake.writers.write_change_batch` (what ``ddblake stream`` and the Lambda consumer
write). The history is the truth: ``state_at(us)`` is the table at any microsecond, as
DynamoDB JSON items.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from lake import layout
from lake.fileio import FileIO
from lake.writers import SnapshotWriter, write_change_batch
from schemas.changes import ChangeBatch, ChangeRecord
from schemas.dynamo_json import Item
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Manifest, Source
from schemas.table_schema import REST, TableSchema

KEYS = KeySchema(KeyAttribute("id", "S"))


def iso(us: int) -> str:
    seconds, micros = divmod(us, 1_000_000)
    when = datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Event:
    us: int
    op: str
    key: str
    new: Item | None
    old: Item | None


@dataclass
class History:
    """Events in time order (µs since the epoch); items in DynamoDB JSON."""

    table: str = "orders"
    events: list[Event] = field(default_factory=list)

    def state_at(self, us: int) -> dict[str, Item]:
        state: dict[str, Item] = {}
        for e in self.events:
            if e.us > us:
                break
            if e.new is None:
                state.pop(e.key, None)
            else:
                state[e.key] = e.new
        return state

    def write(self, us: int, key: str, new: Item | None) -> None:
        old = self.state_at(us).get(key)
        op = "REMOVE" if new is None else ("INSERT" if old is None else "MODIFY")
        if new is not None:
            new = {"id": {"S": key}, **new}
        self.events.append(Event(us, op, key, new, old))
        self.events.sort(key=lambda e: e.us)


def write_snapshot(io: FileIO, history: History, snapshot_id: str, *, start_us: int,
                   end_us: int, kind: str = "exact", parts: int = 2) -> Manifest:
    """Commit a snapshot holding ``state_at(end_us)`` in ``parts`` parts (format 2)."""
    items = [history.state_at(end_us)[k] for k in sorted(history.state_at(end_us))]
    writer = SnapshotWriter(io, history.table, snapshot_id, KEYS)
    for n in range(parts):
        chunk = [json.loads(json.dumps(i)) for i in items[n::parts]]  # the writer takes over
        writer.write_part(layout.part_name(0, n), writer.encode(chunk))
    method = "export" if kind == "exact" else "scan"
    return writer.commit(source=Source(history.table, method),  # type: ignore[arg-type]
                         consistency=Consistency(kind, iso(start_us), iso(end_us)),  # type: ignore[arg-type]
                         table_description={"TableName": history.table})


def write_batch(io: FileIO, history: History, batch_id: str, first_us: int,
                last_us: int) -> ChangeBatch:
    """Commit the events in ``first_us..last_us`` as one change batch (stream records)."""
    records = [ChangeRecord(e.us, e.op, {"id": {"S": e.key}},  # type: ignore[arg-type]
                            json.loads(json.dumps(e.new)) if e.new else None,
                            json.loads(json.dumps(e.old)) if e.old else None,
                            "stream:shard-1", f"{n:040d}")
               for n, e in enumerate(history.events) if first_us <= e.us <= last_us]
    source = {"kind": "stream", "stream_arn": "arn:test/stream/x", "gaps": [],
              "covered_from_us": first_us, "covered_to_us": last_us}
    batch, made = write_change_batch(io, history.table, KEYS, records, source=source,
                                     positions={}, batch_id=batch_id)
    assert made
    return batch


def snapshot_id_at(us: int, tag: str) -> str:
    when = datetime.fromtimestamp(us // 1_000_000, UTC)
    return layout.derived_id(when, tag)


def _number(value: Decimal) -> str:
    text = format(value, "f")  # exact (normalize() would round to 28 digits)
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0") else text


def _cell(kind: str, value: Any) -> dict[str, Any]:
    """A typed cell back in DynamoDB JSON (the kinds the scenario uses)."""
    if kind == "N":
        return {"N": _number(value)}
    if kind == "SS":
        return {"SS": list(value)}
    if kind == "NS":
        return {"NS": [_number(v) for v in value]}
    if kind == "B":
        return {"B": base64.b64encode(value).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(v).decode() for v in value]}
    if kind == "json":
        return dict(json.loads(value))
    assert kind in ("S", "BOOL"), kind
    return {kind: value}


def item_of(row: dict[str, Any], schema: TableSchema) -> Item:
    """The DynamoDB item an Iceberg row of the items table holds: the key, every typed
    cell that is set, and ``_rest`` (an independent rebuild, for the tests' comparisons)."""
    item: Item = {name: _cell(key_type, row[column]) if key_type != "N" else {"N": row[column]}
                  for column, name, key_type in schema.key_columns()}
    for column in schema.columns:
        value = row.get(column.name)
        if value is not None:
            item[column.name] = _cell(column.kind, value)
    if row.get(REST) is not None:
        item.update(json.loads(row[REST]))
    return item
