"""Builders of small real lakes for the lake-care tests (real Parquet, real manifests)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ddblake.sampledata import orders
from lake import layout
from lake.fileio import FileIO, WriteOptions
from lake.writers import SnapshotWriter, write_change_batch
from schemas.changes import ChangeRecord
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Manifest, Source
from tests.helpers import encode_part

KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
TABLE = "orders"


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def make_snapshot(io: FileIO, *, when: datetime | None = None, items: int = 40,
                  parts: int = 2, start: int = 0, table: str = TABLE,
                  options: WriteOptions | None = None) -> Manifest:
    """A committed snapshot of ``items`` sample orders in ``parts`` parts, id dated ``when``."""
    when = when or datetime.now(UTC)
    writer = SnapshotWriter(io, table, layout.new_id(now=when), KEYS, options=options)
    for seq, chunk in enumerate(part_orders(items, parts, start)):
        if chunk:
            writer.write_part(layout.part_name(0, seq), encode_part(writer, chunk, KEYS))
    return writer.commit(source=Source(table, "scan"),
                         consistency=Consistency("fuzzy", iso(when), iso(when)),
                         table_description=description(table))


def part_orders(items: int, parts: int, start: int = 0) -> list[list[dict[str, Any]]]:
    """The sample orders of each part of :func:`make_snapshot` (same arguments)."""
    per_part = -(-items // parts)
    return [list(orders(max(0, min(per_part, items - seq * per_part)),
                        start=start + seq * per_part)) for seq in range(parts)]


def snapshot_orders(items: int, parts: int, start: int = 0) -> list[dict[str, Any]]:
    """Every item :func:`make_snapshot` writes with these arguments."""
    return [item for chunk in part_orders(items, parts, start) for item in chunk]


def description(table: str = TABLE) -> dict[str, Any]:
    """The parts of a DescribeTable answer a restore needs to rebuild the table."""
    return {"TableName": table, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                          {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "S"}]}


def make_changes(io: FileIO, when: datetime, count: int = 3, table: str = TABLE,
                 source: dict[str, Any] | None = None) -> Any:
    """A committed change batch with ``count`` inserts and one remove, events at ``when``."""
    us = int(when.timestamp() * 1_000_000)
    records = []
    for i, item in enumerate(orders(count, start=10_000)):
        records.append(ChangeRecord(us + i, "INSERT", KEYS.key_of(item), item, None,
                                    "test", f"{i:06d}"))
    gone = next(orders(1))
    records.append(ChangeRecord(us + count, "REMOVE", KEYS.key_of(gone), None, gone, "test",
                                f"{count:06d}"))
    batch, _ = write_change_batch(io, table, KEYS, records, source=source or {"kind": "test"},
                                  positions={}, batch_id=layout.new_id(now=when))
    return batch
