"""Build lake contents directly (snapshots, change batches) for coverage and as_of tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lake import layout
from lake.fileio import FileIO
from lake.writers import SnapshotWriter, write_change_batch
from schemas.changes import ChangeRecord
from schemas.dynamo_json import Item
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Source
from tests.helpers import encode_part

KEYS = KeySchema(KeyAttribute("pk", "S"))
BASE_US = 1_795_334_400_000_000  # 2026-11-22T08:00:00Z


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat(
        timespec="microseconds").replace("+00:00", "Z")


def snapshot(io: FileIO, table: str, items: list[Item], *, start_us: int, end_us: int,
             kind: str = "fuzzy", keys: KeySchema = KEYS) -> str:
    """Commit a snapshot with the given consistency window (items in wire form)."""
    sid = layout.new_id(datetime.fromtimestamp(end_us / 1_000_000, UTC))
    writer = SnapshotWriter(io, table, sid, keys)
    if items:
        writer.write_part(layout.part_name(0, 0), encode_part(writer, items, keys))
    writer.commit(source=Source(table, "scan"),
                  consistency=Consistency(kind, iso(start_us), iso(end_us)),  # type: ignore[arg-type]
                  table_description={"TableName": table})
    return sid


def batch(io: FileIO, table: str, records: list[ChangeRecord], *, from_us: int | None,
          to_us: int | None, kind: str = "stream", gaps: list[dict[str, Any]] | None = None,
          keys: KeySchema = KEYS) -> str:
    source: dict[str, Any] = {"kind": kind, "stream_arn": "arn:test/stream/x", "gaps": gaps or []}
    if from_us is not None:
        source["covered_from_us"] = from_us
    if to_us is not None:
        source["covered_to_us"] = to_us
    made, _ = write_change_batch(io, table, keys, records, source=source, positions={})
    return made.batch_id


def put(pk: str, when_us: int, seq: int, **attrs: str) -> ChangeRecord:
    item: Item = {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}
    return ChangeRecord(when_us, "MODIFY", {"pk": {"S": pk}}, item, None, "stream:s",
                        f"{seq:040d}")


def remove(pk: str, when_us: int, seq: int) -> ChangeRecord:
    return ChangeRecord(when_us, "REMOVE", {"pk": {"S": pk}}, None, {"pk": {"S": pk}},
                        "stream:s", f"{seq:040d}")
