"""What ``snapshots`` and ``show`` print: rows built from committed manifests only."""

from __future__ import annotations

from typing import Any

from lake import catalog, layout
from lake.fileio import FileIO
from schemas.manifest import Manifest


def snapshot_row(manifest: Manifest) -> dict[str, Any]:
    consistency = manifest.consistency
    window = (consistency.end if consistency.kind == "exact"
              else f"{consistency.start}..{consistency.end}")
    return {"table": manifest.table, "snapshot_id": manifest.snapshot_id,
            "created_at": manifest.created_at, "method": manifest.source.method,
            "consistency": f"{consistency.kind} {window}", "items": manifest.totals.items,
            "bytes": manifest.totals.bytes}


def damaged_row(damaged: catalog.DamagedSnapshot) -> dict[str, Any]:
    return {"table": damaged.table, "snapshot_id": damaged.snapshot_id, "created_at": "",
            "method": "", "consistency": "DAMAGED", "items": None, "bytes": None,
            "damaged": damaged.error.message}


def snapshot_rows(io: FileIO, table: str | None = None
                  ) -> list[tuple[dict[str, Any], Manifest | None]]:
    """One row per committed snapshot (of ``table``, or of every table), oldest first, with
    its manifest; a damaged snapshot gets a row marked DAMAGED and no manifest."""
    if table:
        catalog.require_table(io, table)
    else:
        catalog.check_lake(io)
    found = catalog.read_snapshots(io, table)
    rows: list[tuple[dict[str, Any], Manifest | None]] = [
        (snapshot_row(m), m) for m in found.manifests]
    rows += [(damaged_row(d), None) for d in found.damaged]
    return sorted(rows, key=lambda r: (r[0]["table"], r[0]["snapshot_id"]))


def describe_snapshot(io: FileIO, snapshot: str, table: str | None = None) -> dict[str, Any]:
    """Summary, column decisions and parts of one snapshot (``latest`` or an id)."""
    manifest = catalog.find_snapshot(io, snapshot, table)
    source = manifest.source
    summary = {**snapshot_row(manifest),
               "location": io.full_uri(layout.snapshot_dir(manifest.table,
                                                           manifest.snapshot_id)),
               "source_arn": source.table_arn, "segments": source.segments,
               "consistent_read": source.consistent_read, "parts": len(manifest.parts),
               "item_bytes": manifest.totals.item_bytes,
               "content_digest": manifest.totals.content_digest,
               "key_schema": manifest.key_schema.to_dict(),
               "tool_version": manifest.tool_version}
    return {"summary": summary, "columns": [c.to_dict() for c in manifest.columns],
            "parts": [p.to_dict() for p in manifest.parts]}
