"""Writers of the lake's two committed things: snapshots and change batches.

Both follow data-first, commit-last: every part is uploaded under a deterministic name,
then one manifest is created with overwrite forbidden.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lake import layout
from lake.commit import commit_change_batch, commit_snapshot, write_parquet
from lake.fileio import FileIO, WriteOptions
from schemas.changes import ChangeBatch, ChangeRecord, change_table
from schemas.codec import EncodedPart
from schemas.dynamo_json import Digest
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Manifest, PartInfo, Source, Totals
from schemas.projection import ColumnDecision, reconcile
from schemas.version import TOOL_VERSION as __version__

SNAPSHOT_DATA_TAG = ("ddblake-kind", "snapshot-data")


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

    def write_part(self, relative: str, part: EncodedPart) -> PartInfo:
        """Upload one encoded part at ``relative`` (e.g. ``layout.part_name(seg, seq)``)."""
        key = layout.snapshot_part(self.table, self.snapshot_id, relative)
        size, sha = write_parquet(self.io, key, part.table, self.part_options())
        info = PartInfo(relative, part.rows, size, sha, part.digest.hex(), part.min_key,
                        part.max_key)
        self.add(info, part.columns)
        return info

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
        commit_snapshot(self.io, manifest)
        return manifest


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
        size, sha = write_parquet(io, layout.table_key(table, relative), arrow, options)
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
