"""Build real committed snapshots for tests, without DynamoDB."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from lake import layout
from lake.fileio import FileIO
from lake.writers import SnapshotWriter
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Manifest, Source
from tests.helpers import encode_part

ORDER_KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))


def make_snapshot(io: FileIO, table: str, parts: list[list[dict[str, Any]]], *,
                  keys: KeySchema = ORDER_KEYS, when: datetime | None = None) -> Manifest:
    snapshot_id = layout.new_id(when)
    writer = SnapshotWriter(io, table, snapshot_id, keys)
    for seq, items in enumerate(parts):
        writer.write_part(layout.part_name(0, seq), encode_part(writer, copy.deepcopy(items), keys))
    at = (when or layout.id_time(snapshot_id)).isoformat()
    description = {"TableName": table, "KeySchema": [], "AttributeDefinitions": []}
    return writer.commit(source=Source(table, "scan", segments=1),
                         consistency=Consistency("fuzzy", at, at),
                         table_description=description)
