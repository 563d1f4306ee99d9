"""Build lake snapshots for restore tests (the exporter lives on another branch)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from exporter.describe import describe_table
from lake import layout
from lake.fileio import LocalFileIO
from lake.writers import SnapshotWriter, utc_now
from schemas.dynamo_json import from_client
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Manifest, Source
from tests.helpers import encode_part, scan_all


def snapshot_items(lake: Path, table: str, items: list[dict[str, Any]],
                   description: dict[str, Any], *, parts: int = 2) -> Manifest:
    """Commit a snapshot of wire-form ``items`` (split into ``parts`` parts)."""
    io = LocalFileIO(lake)
    keys = KeySchema.from_description(description)
    writer = SnapshotWriter(io, table, layout.new_id(), keys)
    items = copy.deepcopy(items)
    size = max(1, -(-len(items) // parts))
    for seq, start in enumerate(range(0, max(len(items), 1), size)):
        chunk = items[start:start + size]
        if chunk:
            writer.write_part(layout.part_name(0, seq), encode_part(writer, chunk, keys))
    now = utc_now()
    return writer.commit(source=Source(table, "scan"),
                         consistency=Consistency("fuzzy", now, now),
                         table_description=description)


def snapshot_table(ddb: Any, lake: Path, table: str, *, parts: int = 2) -> Manifest:
    """Scan a (moto) table and commit it as a snapshot, like the exporter would."""
    items = [from_client(i) for i in scan_all(ddb, table)]
    return snapshot_items(lake, table, items, describe_table(ddb, table), parts=parts)
