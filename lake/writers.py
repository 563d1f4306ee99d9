"""Writers of the lake's two committed things: snapshots and change batches.

Both follow data-first, commit-last: every part is uploaded under a deterministic name,
then one manifest is created with overwrite forbidden.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lake import layout
from lake.commit import commit_change_batch, commit_snapshot, write_parquet
from lake.fileio import FileIO, WriteOptions
from lake.table_schemas import evolve_schema, first_schema, latest_schema
from schemas.changes import ChangeBatch, ChangeRecord, change_table
from schemas.codec import EncodedPart, PartBuilder
from schemas.dynamo_json import Digest, Item
from schemas.errors import UsageError
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Manifest, PartInfo, Source, Totals
from schemas.projection import ColumnDecision, reconcile
from schemas.rowcodec import EncodedRows, RowPartBuilder
from schemas.rowparts import parquet_options
from schemas.table_schema import AttributeStats, TableSchema, empty_schema, schema_decisions
from schemas.version import TOOL_VERSION as __version__

SNAPSHOT_DATA_TAG = ("ddblake-kind", "snapshot-data")
SAMPLE_ITEMS = 1000  # a new table's schema 1 is made from the first items a builder holds


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class SnapshotWriter:
    """Uploads the parts of one snapshot, then commits its manifest.

    Parts may be written from several processes (each with its own writer for the same id)
    and the :class:`PartInfo`/column decisions gathered by the one that commits.
    """

    io: FileIO
    table: str
    snapshot_id: str
    keys: KeySchema
    options: WriteOptions | None = None
    parts: list[PartInfo] = field(default_factory=list)
    decisions: list[list[ColumnDecision]] = field(default_factory=list)
    schema: TableSchema | None = None  # format 2: the schema every part is written against
    stats: AttributeStats = field(default_factory=AttributeStats)
    schema_ids: set[int] = field(default_factory=set)

    def write_part(self, relative: str, part: EncodedPart | EncodedRows) -> PartInfo:
        """Upload one encoded part at ``relative`` (e.g. ``layout.part_name(seg, seq)``)."""
        key = layout.snapshot_part(self.table, self.snapshot_id, relative)
        extra = None
        if isinstance(part, EncodedRows):
            schema = self.schema_of(part)
            extra = parquet_options(schema)
        size, sha = write_parquet(self.io, key, part.table, self.part_options(), parquet=extra)
        info = PartInfo(relative, part.rows, size, sha, part.digest.hex(), part.min_key,
                        part.max_key)
        if isinstance(part, EncodedRows):
            self.add_rows(info, part.stats, part.schema_id)
        else:
            self.add(info, part.columns)
        return info

    def encode(self, items: Iterable[Item]) -> EncodedRows:
        """A format 2 part of ``items`` (taken over) against the writer's schema: the
        table's latest, or, for a new table, schema 1 made from the first of these items."""
        if self.schema is None:
            self.schema = latest_schema(self.io, self.table)
        builder = RowPartBuilder(self.schema or empty_schema(self.table, self.keys))
        for item in items:
            builder.add(item)
            if len(builder) == SAMPLE_ITEMS:
                self.settle(builder)
        self.settle(builder, done=True)
        return builder.build()

    def settle(self, builder: PartBuilder | RowPartBuilder, *, done: bool = False) -> None:
        """Give a format 2 builder of a new table the table's schema 1 (made from the
        statistics of the items it holds, or read when another unit made it first) once it
        holds ``SAMPLE_ITEMS`` items, or with ``done`` however many: against no schema every
        attribute would go to ``_rest``, and its items are placed a second time when it
        gets one. The writer takes the builder's schema."""
        if not isinstance(builder, RowPartBuilder):
            return
        if builder.schema.schema_id == 0 and (done or len(builder) >= SAMPLE_ITEMS):
            builder.retarget(first_schema(self.io, self.table, self.keys, builder.stats()))
        if builder.schema.schema_id:
            self.schema = builder.schema

    def schema_of(self, part: EncodedRows) -> TableSchema:
        """The writer's schema, which must be the one ``part`` was built against."""
        if self.schema is None or self.schema.schema_id != part.schema_id:
            raise UsageError(f"a part built against schema {part.schema_id} cannot join a "
                             f"snapshot written against "
                             f"{self.schema.schema_id if self.schema else 'no schema'}")
        return self.schema

    def add_rows(self, info: PartInfo, stats: AttributeStats, schema_id: int) -> None:
        """Record a format 2 part written elsewhere: its statistics and schema id."""
        self.parts.append(info)
        self.stats = self.stats.merge(stats)
        self.schema_ids.add(schema_id)

    def part_options(self) -> WriteOptions:
        """Write options of data parts: the writer's (or the lake's) plus the tag that S3
        lifecycle rules select snapshot data by (manifests stay untagged, in STANDARD)."""
        base = self.options or getattr(self.io, "options", None) or WriteOptions()
        return base.with_tag(*SNAPSHOT_DATA_TAG)

    def add(self, info: PartInfo, columns: list[ColumnDecision]) -> None:
        """Record a part written elsewhere (another process, or a resumed run)."""
        self.parts.append(info)
        self.decisions.append(columns)

    def commit(self, *, source: Source, consistency: Consistency,
               table_description: dict[str, Any], extra: dict[str, Any] | None = None,
               item_bytes: int = 0) -> Manifest:
        """Commit the manifest; for format 2, then add columns for the attributes this
        snapshot saw without one (the next snapshot's schema)."""
        parts = tuple(sorted(self.parts, key=lambda p: p.path))
        digest = Digest()
        for p in parts:
            digest = digest.combine(Digest.from_hex(p.digest, p.rows))
        manifest = Manifest(
            snapshot_id=self.snapshot_id, table=self.table, created_at=utc_now(),
            tool_version=__version__, source=source, consistency=consistency,
            key_schema=self.keys, table_description=table_description, parts=parts,
            columns=tuple(reconcile(self.decisions)),
            totals=Totals(items=sum(p.rows for p in parts), bytes=sum(p.bytes for p in parts),
                          item_bytes=item_bytes, content_digest=digest.hex()),
            extra=extra or {})
        if self.schema is not None:
            manifest = self._format2(manifest, self.schema)
        commit_snapshot(self.io, manifest)
        if self.schema is not None and self.stats.rows:
            evolve_schema(self.io, self.schema, self.stats)
        return manifest

    def _format2(self, manifest: Manifest, schema: TableSchema) -> Manifest:
        if self.schema_ids - {schema.schema_id}:
            raise UsageError(f"parts of snapshot {self.snapshot_id} were written against "
                             f"schemas {sorted(self.schema_ids)}; not committing",
                             hint="export the table again")
        return replace(manifest, format_version=2, schema=schema.to_dict(),
                       columns=tuple(schema_decisions(schema)))


def write_change_batch(io: FileIO, table: str, keys: KeySchema, records: Iterable[ChangeRecord],
                       *, source: dict[str, Any], positions: dict[str, str],
                       batch_id: str | None = None,
                       options: WriteOptions | None = None) -> tuple[ChangeBatch, bool]:
    """Write one change batch (one part) and commit it.

    ``batch_id`` should be derived from the source position when retries must be idempotent
    (a Lambda retry or a restarted consumer writes the same id; the second commit is refused
    and reported as ``False``).
    """
    batch_id = batch_id or layout.new_id()
    if io.exists(layout.change_manifest(table, batch_id)):
        return _existing(io, table, batch_id), False
    batch = stage_change_batch(io, table, keys, records, source=source, positions=positions,
                               batch_id=batch_id, options=options)
    committed = commit_change_batch(io, batch)
    return (batch, True) if committed else (_existing(io, table, batch_id), False)


def stage_change_batch(io: FileIO, table: str, keys: KeySchema, records: Iterable[ChangeRecord],
                       *, source: dict[str, Any], positions: dict[str, str], batch_id: str,
                       options: WriteOptions | None = None) -> ChangeBatch:
    """Write one change batch's part, not its manifest: the batch to commit later with
    ``commit_change_batch`` (several batches that must become visible together)."""
    rows = sorted(records, key=lambda r: (r.event_us, r.seq))
    relative = layout.change_part_name(batch_id, 0)
    parts: tuple[PartInfo, ...] = ()
    if rows:
        arrow = change_table(rows, keys)
        # No stored Arrow schema: the images keep Parquet's JSON type (DuckDB reads JSON),
        # and Iceberg readers on pyarrow (pyiceberg 0.12) see plain strings instead of the
        # arrow.json extension type they refuse (docs/iceberg.md).
        size, sha = write_parquet(io, layout.table_key(table, relative), arrow, options,
                                  parquet={"store_schema": False})
        digest = Digest()
        for value in arrow.column("_new_sha256").to_pylist():
            if value is not None:
                digest.add_hex(value)
        parts = (PartInfo(relative, len(rows), size, sha, digest.hex()),)
    batch = ChangeBatch(
        batch_id=batch_id, table=table, created_at=utc_now(), tool_version=__version__,
        source=source, key_schema=keys,
        first_event_us=rows[0].event_us if rows else 0,
        last_event_us=rows[-1].event_us if rows else 0,
        parts=parts, rows=len(rows), positions=positions)
    return batch


def _existing(io: FileIO, table: str, batch_id: str) -> ChangeBatch:
    from schemas.changes import parse_change_batch

    key = layout.change_manifest(table, batch_id)
    return parse_change_batch(io.read(key), what=io.full_uri(key))
