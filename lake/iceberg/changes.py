"""The change table: every committed change batch, appended (one Iceberg snapshot per
publish). Rows are the change parts as they are (``schemas/changes.py``): event time,
operation, ``_pk``/``_sk``, and the keys, new and old images as DynamoDB JSON text."""

from __future__ import annotations

from pyiceberg.table.metadata import TableMetadata

from lake import catalog, layout
from lake.fileio import FileIO
from lake.iceberg import build, metadata
from lake.iceberg.mapping import change_arrow_schema, change_schema
from lake.iceberg.tables import Context, Published, add_all, iceberg_snapshot_id, rebuilt
from schemas.changes import ChangeBatch


def batch_parts(io: FileIO, batch: ChangeBatch) -> tuple[build.Part, ...]:
    return tuple(build.Part(io.full_uri(layout.table_key(batch.table, p.path)), p.rows,
                            p.bytes) for p in batch.parts)


def planned(io: FileIO, table: str, batches: list[ChangeBatch],
            after_ms: int) -> build.Planned:
    ids = sorted(b.batch_id for b in batches)
    props = {"ddblake.table": table, "ddblake.batches": str(len(batches)),
             "ddblake.first-batch-id": ids[0], "ddblake.last-batch-id": ids[-1],
             "ddblake.first-event-us": str(min(b.first_event_us for b in batches)),
             "ddblake.last-event-us": str(max(b.last_event_us for b in batches))}
    keys = batches[0].key_schema
    return build.Planned(iceberg_snapshot_id(table, "changes", "\x1f".join(ids)),
                         max(metadata.now_ms(), after_ms),
                         tuple(p for b in batches for p in batch_parts(io, b)),
                         change_schema(keys), change_arrow_schema(keys), props, replace=False)


def live_paths(ctx: Context, md: TableMetadata) -> set[str]:
    current = md.current_snapshot()
    if current is None:
        return set()
    return {e.data_file.file_path for e in build.live_entries(ctx.pyio(), current)}


def unpublished(ctx: Context, md: TableMetadata,
                batches: list[ChangeBatch]) -> list[ChangeBatch] | None:
    """Batches not yet in the table; None when the table holds a file no batch names, or
    part of a batch (then it is rewritten)."""
    present = live_paths(ctx, md)
    wanted = {p.path for b in batches for p in batch_parts(ctx.io, b)}
    new = []
    for batch in batches:
        paths = {p.path for p in batch_parts(ctx.io, batch)}
        if paths & present and not paths <= present:
            return None
        if not paths & present:
            new.append(batch)
    return None if present - wanted else new


def _last_ms(md: TableMetadata) -> int:
    return max((s.timestamp_ms for s in md.snapshots), default=0)


def publish_changes(io: FileIO, table: str, *, rebuild: bool = False,
                    dry_run: bool = False) -> Published:
    ctx = Context(io, table, "changes")
    batches = [b for b in catalog.list_change_batches(io, table) if b.parts]
    base = ctx.load(rebuild)
    last = batches[-1].batch_id if batches else None
    if not batches and base is None:
        return ctx.result(None, "empty", None)
    new = None if rebuild or ctx.stale(base) or base is None else \
        unpublished(ctx, base.metadata, batches)
    if new is None:
        if not dry_run:
            rebuilt(ctx, base, [planned(io, table, batches, 0)] if batches else [])
        version = base if dry_run else metadata.load(io, ctx.prefix)
        return ctx.result(version, "created" if base is None else "rebuilt", last,
                          len(batches))
    if not new:
        return ctx.result(base, "unchanged", last)
    if not dry_run and base is not None:
        md = add_all(ctx.pyio(), base.metadata,
                     [planned(io, table, new, _last_ms(base.metadata))])
        base = ctx.commit(base, md)
    return ctx.result(base, "updated", last, len(new))
