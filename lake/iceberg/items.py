"""The items table: one Iceberg snapshot per ddblake snapshot, current = the latest."""

from __future__ import annotations

from dataclasses import replace

from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot

from lake import catalog, layout
from lake.coverage import iso_us
from lake.fileio import FileIO
from lake.iceberg import build, metadata
from lake.iceberg.mapping import iceberg_schema
from lake.iceberg.tables import (
    SNAPSHOT_ID,
    Context,
    Published,
    add_all,
    ceil_ms,
    ddblake_id,
    iceberg_snapshot_id,
    rebuilt,
    remove_snapshots,
)
from schemas.errors import UsageError
from schemas.manifest import Manifest
from schemas.table_schema import TableSchema


def point_us(manifest: Manifest) -> int:
    """The consistency point: the exact time, or the end of the scan window."""
    return iso_us(manifest.consistency.end)


def replay_from(manifest: Manifest) -> tuple[int, bool]:
    """Where the change log is replayed from on top of this snapshot, and whether a change
    at exactly that microsecond is replayed (a fuzzy scan: from its start, inclusive)."""
    if manifest.consistency.kind == "fuzzy":
        return iso_us(manifest.consistency.start), True
    return point_us(manifest), False


def snapshot_properties(manifest: Manifest) -> dict[str, str]:
    start, inclusive = replay_from(manifest)
    return {SNAPSHOT_ID: manifest.snapshot_id, "ddblake.table": manifest.table,
            "ddblake.method": manifest.source.method,
            "ddblake.consistency": manifest.consistency.kind,
            "ddblake.window-start": manifest.consistency.start,
            "ddblake.window-end": manifest.consistency.end,
            "ddblake.point-us": str(point_us(manifest)),
            "ddblake.replay-from-us": str(start),
            "ddblake.replay-inclusive": "true" if inclusive else "false",
            "ddblake.items": str(manifest.totals.items),
            "ddblake.created-at": manifest.created_at}


def _schema(manifest: Manifest) -> TableSchema:
    schema = manifest.table_schema
    assert schema is not None  # publishable() left format 1 snapshots out
    return schema


def planned(io: FileIO, manifest: Manifest) -> build.Planned:
    parts = tuple(build.Part(io.full_uri(layout.snapshot_part(manifest.table,
                                                              manifest.snapshot_id, p.path)),
                             p.rows, p.bytes) for p in manifest.parts)
    schema = _schema(manifest)
    return build.Planned(iceberg_snapshot_id(manifest.table, "items", manifest.snapshot_id),
                         ceil_ms(point_us(manifest)), parts, iceberg_schema(schema),
                         schema.arrow_schema(), snapshot_properties(manifest))


def ordered(io: FileIO, table: str) -> list[Manifest]:
    """Committed snapshots in the order ``items`` and ``as_of`` rank them."""
    return sorted(catalog.list_snapshots(io, table),
                  key=lambda m: (point_us(m), m.snapshot_id))


def publishable(manifests: list[Manifest]) -> tuple[list[Manifest], list[str]]:
    """(the format 2 snapshots, the ids of the format 1 snapshots left out). Format 1 parts
    have no table schema, so no Iceberg schema: only format 1 snapshots older than every
    format 2 one are left out (time travel before the first published snapshot finds none,
    which engines report); one newer than a format 2 snapshot would be skipped silently by
    time travel, so it is refused."""
    first2 = next((i for i, m in enumerate(manifests) if m.table_schema is not None), None)
    if first2 is None:
        return [], [m.snapshot_id for m in manifests]
    late = [m for m in manifests[first2:] if m.table_schema is None]
    if late:
        raise UsageError(
            f"snapshot {late[0].snapshot_id} of {late[0].table} is in lake format 1 but newer "
            f"than format 2 snapshot {manifests[first2].snapshot_id}: Iceberg time travel "
            "would skip it, so the table is not published",
            hint="take a new snapshot in lake format 2 (`ddblake export`, the default format) "
                 "and delete the format 1 one (`ddblake prune`), then rerun `ddblake iceberg`")
    return manifests[first2:], [m.snapshot_id for m in manifests[:first2]]


def skipped_note(table: str, skipped: list[str]) -> tuple[str, ...]:
    if not skipped:
        return ()
    return (f"{table}: {len(skipped)} snapshot(s) in lake format 1 are not published as "
            f"Iceberg snapshots (oldest {skipped[0]}, newest {skipped[-1]}); Iceberg tables "
            "need lake format 2 (`ddblake export` writes it)",)


def incremental(md: TableMetadata,
                manifests: list[Manifest]) -> tuple[list[Snapshot], list[Manifest]] | None:
    """(Iceberg snapshots to remove, ddblake snapshots to append), or None when appending
    cannot keep the order and the table must be rewritten."""
    rank = {m.snapshot_id: i for i, m in enumerate(manifests)}
    present = [(s, ddblake_id(s)) for s in md.snapshots]
    gone = [s for s, sid in present if sid not in rank]
    kept = [rank[sid] for _, sid in present if sid in rank]
    published = {sid for _, sid in present}
    new = [m for m in manifests if m.snapshot_id not in published]
    if kept != sorted(kept) or (new and kept and rank[new[0].snapshot_id] < kept[-1]):
        return None
    current = md.current_snapshot()
    if current is not None and current in gone and not new:
        return None
    return gone, new


def publish_items(io: FileIO, table: str, *, rebuild: bool = False, dry_run: bool = False,
                  without: frozenset[str] = frozenset()) -> Published:
    """Bring the items table up to date (``without``: snapshots about to be deleted)."""
    found = [m for m in ordered(io, table) if m.snapshot_id not in without]
    manifests, skipped = publishable(found)
    ctx = Context(io, table, "items", skipped_note(table, skipped))
    base = ctx.load(rebuild)
    latest = manifests[-1].snapshot_id if manifests else None
    if not manifests and base is None:
        return ctx.result(None, "skipped" if skipped else "empty", None)
    plan = None if rebuild or ctx.stale(base) or base is None else \
        incremental(base.metadata, manifests)
    if plan is None:
        action = "created" if base is None else "rebuilt"
        if not dry_run:
            rebuilt(ctx, base, [planned(io, m) for m in manifests])
        return _after(ctx, dry_run, base, action, latest, len(manifests), 0)
    gone, new = plan
    if not gone and not new:
        return ctx.result(base, "unchanged", latest)
    if not dry_run and base is not None:
        md = add_all(ctx.pyio(), remove_snapshots(base.metadata, gone),
                     [planned(io, m) for m in new])
        ctx.commit(base, md)
    return _after(ctx, dry_run, base, "updated", latest, len(new), len(gone))


def _after(ctx: Context, dry_run: bool, base: metadata.Version | None, action: str,
           current: str | None, added: int, removed: int) -> Published:
    version = base if dry_run else metadata.load(ctx.io, ctx.prefix)
    return ctx.result(version, action, current, added, removed)


def withdraw(io: FileIO, table: str, snapshot_ids: list[str]) -> Published | None:
    """Remove the Iceberg snapshots of ddblake snapshots about to be deleted (``prune``
    calls this before deleting their parts, so no Iceberg reader is sent to a deleted
    file); None when the table has no Iceberg items table yet."""
    ctx = Context(io, table, "items")
    base = metadata.load(io, ctx.prefix)
    if base is None:
        return None
    doomed = set(snapshot_ids)
    gone = [s for s in base.metadata.snapshots if ddblake_id(s) in doomed]
    current = base.metadata.current_snapshot()
    if not gone:
        return ctx.result(base, "unchanged", None)
    if current is not None and current in gone:
        rebuilt_table = publish_items(io, table, rebuild=True, without=frozenset(doomed))
        return replace(rebuilt_table, removed=len(gone))
    version = ctx.commit(base, remove_snapshots(base.metadata, gone))
    return ctx.result(version, "updated", None, 0, len(gone))
