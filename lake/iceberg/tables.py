"""Bring a table's Iceberg tables up to date with the lake's manifests (the commit of record).

The items table has one Iceberg snapshot per committed ddblake snapshot, in the order of their
consistency points; its current snapshot holds exactly the latest one's parts. Each Iceberg
snapshot's time is the ddblake snapshot's consistency point (rounded *up* to the millisecond),
so Iceberg time travel to a time T returns the newest snapshot whose point is at or before T:
the same base ``ddblake query --as-of T`` starts from. Its summary carries the ddblake snapshot
id, method, consistency, scan window and where the change log must be replayed from.

The change table appends every committed change batch (one Iceberg snapshot per publish).

Publishing is incremental and idempotent: snapshots pruned from the lake are removed from the
Iceberg metadata, new ones appended. When appending cannot keep the order (a snapshot whose
point is older than one already published, a lake copied to another place, a change batch
that disappeared), the whole Iceberg table is rewritten from the manifests instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pyiceberg.io import FileIO as IcebergFileIO
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.schema import Schema
from pyiceberg.table.metadata import TableMetadata, TableMetadataV2
from pyiceberg.table.snapshots import MetadataLogEntry, Snapshot
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER
from pyiceberg.table.update import RemoveSnapshotsUpdate, update_table_metadata

from lake import layout
from lake.fileio import FileIO
from lake.iceberg import build, metadata
from lake.iceberg.mapping import CHANGE_PROPERTIES
from lake.iceberg.storage import iceberg_io, table_location
from schemas.errors import ManifestError

PREFIX = "ddblake."
SNAPSHOT_ID = "ddblake.snapshot-id"
PROPERTIES = {
    # Iceberg maintenance jobs (Spark's expire_snapshots, remove_orphan_files) must never
    # delete data files: they are the lake's parts, owned by ddblake's manifests.
    "gc.enabled": "false",
    "write.metadata.delete-after-commit.enabled": "false",
    "write.metadata.previous-versions-max": "100",
    "ddblake.derived": "true; rewrite with `ddblake iceberg --rebuild`",
}


@dataclass(frozen=True)
class Published:
    """One Iceberg table of a DynamoDB table, after publishing (or as it stands)."""

    table: str
    kind: str  # "items" or "changes"
    location: str
    metadata_location: str | None
    version: int | None
    snapshots: int
    current: str | None  # items: ddblake snapshot id; changes: last batch id
    action: str  # created, updated, rebuilt, unchanged, empty, skipped (format 1 only)
    added: int = 0
    removed: int = 0
    notes: tuple[str, ...] = ()  # what was left out, and why

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "kind": self.kind, "metadata_location":
                self.metadata_location, "location": self.location, "version": self.version,
                "snapshots": self.snapshots, "current": self.current, "action": self.action,
                "added": self.added, "removed": self.removed, "notes": list(self.notes)}


def ddblake_id(snapshot: Snapshot) -> str | None:
    """The ddblake snapshot id an Iceberg snapshot of an items table was made from."""
    value = snapshot.summary[SNAPSHOT_ID] if snapshot.summary is not None else None
    return str(value) if value is not None else None


def iceberg_snapshot_id(table: str, kind: str, key: str) -> int:
    """A deterministic positive 63-bit id: a rebuild gives every snapshot the same id."""
    digest = hashlib.sha256(f"{table}\x1f{kind}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1) or 1


def ceil_ms(us: int) -> int:
    return -(-us // 1000)


def empty_metadata(location: str, table: str, kind: str,
                   base: metadata.Version | None) -> TableMetadata:
    """A table with no schema columns and no snapshot (kept uuid and log on a rebuild)."""
    fields: dict[str, object] = {
        "location": location, "last_column_id": 0, "schemas": [Schema(schema_id=0)],
        "current_schema_id": 0, "partition_specs": [UNPARTITIONED_PARTITION_SPEC],
        "default_spec_id": 0, "last_partition_id": 999, "sort_orders": [UNSORTED_SORT_ORDER],
        "default_sort_order_id": 0, "last_updated_ms": metadata.now_ms(),
        "properties": {**PROPERTIES, **(CHANGE_PROPERTIES if kind == "changes" else {}),
                       "ddblake.table": table, "ddblake.kind": kind},
        "metadata_log": list(base.metadata.metadata_log) if base else []}
    if base is not None:
        fields["table_uuid"] = base.metadata.table_uuid
    return TableMetadataV2.model_validate(fields)


def finish(new: TableMetadata, base: metadata.Version | None) -> TableMetadata:
    """Record the previous version in the metadata log; stamp the commit time."""
    log = list(new.metadata_log)
    floor = 0
    if base is not None and base.location != "(unreadable)":
        log.append(MetadataLogEntry.model_validate({
            "metadata_file": base.location, "timestamp_ms": base.metadata.last_updated_ms}))
        floor = base.metadata.last_updated_ms + 1
    limit = int(PROPERTIES["write.metadata.previous-versions-max"])
    stamp = max(metadata.now_ms(), floor, *(e.timestamp_ms for e in new.snapshot_log))
    # Name -> field id for parts that carry no field ids (lake format 2 keeps the ids in its
    # schema files, not in the Parquet files); pyiceberg and DuckDB both honour it.
    mapping = new.schema().name_mapping.model_dump_json()
    return new.model_copy(update={"metadata_log": log[-limit:], "last_updated_ms": stamp,
                                  "properties": {**new.properties,
                                                 "schema.name-mapping.default": mapping}})


def remove_snapshots(md: TableMetadata, snapshots: list[Snapshot]) -> TableMetadata:
    if not snapshots:
        return md
    ids = [s.snapshot_id for s in snapshots]
    return update_table_metadata(md, (RemoveSnapshotsUpdate.model_validate(
        {"snapshot_ids": ids}),))


def add_all(pyio: IcebergFileIO, md: TableMetadata,
            planned: list[build.Planned]) -> TableMetadata:
    for p in planned:
        md = build.add_snapshot(pyio, md, md.location, p)
    return md


@dataclass(frozen=True)
class Context:
    """One Iceberg table being published."""

    io: FileIO
    table: str
    kind: str
    notes: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        return layout.iceberg_table_prefix(self.table, self.kind)

    @property
    def location(self) -> str:
        return table_location(self.io, self.table, self.kind)

    def pyio(self) -> IcebergFileIO:
        return iceberg_io(self.io)

    def result(self, version: metadata.Version | None, action: str, current: str | None,
               added: int = 0, removed: int = 0) -> Published:
        return Published(self.table, self.kind, self.location,
                         version.location if version else None,
                         version.number if version else None,
                         len(version.metadata.snapshots) if version else 0, current, action,
                         added, removed, self.notes)

    def load(self, rebuild: bool) -> metadata.Version | None:
        """The current version; for a rebuild, an unreadable one only gives its number."""
        try:
            return metadata.load(self.io, self.prefix)
        except ManifestError:
            if not rebuild:
                raise
            number = metadata.current_number(self.io, self.prefix) or 0
            return metadata.Version(self.prefix, number, empty_metadata(
                self.location, self.table, self.kind, None), "(unreadable)")

    def commit(self, base: metadata.Version | None, new: TableMetadata) -> metadata.Version:
        return metadata.commit(self.io, self.prefix, base, finish(new, base))

    def stale(self, base: metadata.Version | None) -> bool:
        """A version made for another place (a copied lake), or naming manifest lists
        outside this table's folder: its paths point elsewhere, so it is rewritten rather
        than followed."""
        if base is None:
            return False
        inside = f"{self.location}/metadata/"
        return base.metadata.location != self.location or any(
            not s.manifest_list.startswith(inside) for s in base.metadata.snapshots)


def rebuilt(ctx: Context, base: metadata.Version | None, planned: list[build.Planned]) -> str:
    """The action word, after rewriting the whole table from ``planned``."""
    md = add_all(ctx.pyio(), empty_metadata(ctx.location, ctx.table, ctx.kind, base), planned)
    ctx.commit(base, md)
    return "created" if base is None else "rebuilt"

