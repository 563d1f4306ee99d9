"""One Iceberg snapshot made from lake parts, written with pyiceberg's manifest APIs.

The parts are registered where they are (never copied): their Parquet footers give the
column statistics, their sizes and row counts are checked against what ddblake's manifest
recorded. A snapshot either *replaces* the table's files (the items table: it holds exactly
one ddblake snapshot's parts; the parent's files are recorded as deleted) or *appends* to them
(the change table). Snapshot ids and timestamps are chosen by the caller, so a snapshot's
Iceberg time is the ddblake snapshot's consistency point, not the time of publishing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.io import FileIO as IcebergFileIO
from pyiceberg.io.pyarrow import (
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    write_manifest,
    write_manifest_list,
)
from pyiceberg.schema import Schema
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.refs import MAIN_BRANCH, SnapshotRefType
from pyiceberg.table.snapshots import (
    Operation,
    Snapshot,
    SnapshotSummaryCollector,
    Summary,
    update_snapshot_summaries,
)
from pyiceberg.table.update import (
    AddSchemaUpdate,
    AddSnapshotUpdate,
    SetCurrentSchemaUpdate,
    SetSnapshotRefUpdate,
    TableUpdate,
    update_table_metadata,
)

from lake.iceberg.mapping import check_columns, merge_schema
from runtime.threads import bounded_map
from schemas.errors import CorruptDataError, MissingDataError

AVRO_CODEC: Literal["deflate"] = "deflate"
READ_THREADS = 8


@dataclass(frozen=True)
class Part:
    """A lake part as its manifest recorded it; ``path`` is the full URI engines read."""

    path: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class Planned:
    """What one Iceberg snapshot holds and says about itself: its parts, the Iceberg schema
    they are read with and the Arrow columns each must have (``lake.iceberg.mapping``)."""

    snapshot_id: int
    timestamp_ms: int
    parts: tuple[Part, ...]
    schema: Schema
    columns: pa.Schema
    properties: dict[str, str] = field(default_factory=dict)
    replace: bool = True


@dataclass(frozen=True)
class Footer:
    part: Part
    metadata: pq.FileMetaData


def _read_footer(pyio: IcebergFileIO, part: Part, columns: pa.Schema) -> Footer:
    source = pyio.new_input(part.path)
    try:
        size = len(source)
        if size != part.bytes:
            raise CorruptDataError(f"part {part.path} has {size} bytes; its manifest says "
                                   f"{part.bytes}", hint="run `ddblake verify --deep`")
        with source.open() as stream:
            metadata = pq.read_metadata(stream)
    except FileNotFoundError as e:
        raise MissingDataError(f"part {part.path} is missing; refusing to publish it",
                               hint="run `ddblake verify` on the table") from e
    except (pa.ArrowException, OSError) as e:
        raise CorruptDataError(f"part {part.path} is not readable Parquet: {e}",
                               hint="run `ddblake verify --deep`") from e
    if metadata.num_rows != part.rows:
        raise CorruptDataError(f"part {part.path} has {metadata.num_rows} rows; its manifest "
                               f"says {part.rows}", hint="run `ddblake verify --deep`")
    check_columns(metadata.schema.to_arrow_schema(), columns, what=f"part {part.path}")
    return Footer(part, metadata)


def read_footers(pyio: IcebergFileIO, planned: Planned) -> list[Footer]:
    """The parts' footers, checked against their manifest and schema, in the plan's order."""
    def read(indexed: tuple[int, Part]) -> tuple[int, Footer]:
        return indexed[0], _read_footer(pyio, indexed[1], planned.columns)

    threads = min(READ_THREADS, len(planned.parts))
    found = dict(bounded_map(read, enumerate(planned.parts), threads))
    return [found[i] for i in range(len(planned.parts))]


def evolve_schema(metadata: TableMetadata, schema: Schema, *, what: str) -> TableMetadata:
    """Add the columns ``schema`` has and the table's schema lacks (a new schema version,
    which every snapshot then reads with)."""
    current = metadata.schema()
    next_id = max(s.schema_id for s in metadata.schemas) + 1
    merged = merge_schema(current, schema, what=what, next_id=next_id)
    if merged is current:
        return metadata
    metadata = update_table_metadata(metadata, (
        AddSchemaUpdate(schema=merged),
        SetCurrentSchemaUpdate.model_validate({"schema_id": -1})))
    # Earlier snapshots read with the grown schema too (the new columns are optional, NULL
    # in their parts): time travel then shows every column, and one SQL text fits all.
    return metadata.model_copy(update={"snapshots": [
        s.model_copy(update={"schema_id": merged.schema_id}) for s in metadata.snapshots]})


def data_file(metadata: TableMetadata, footer: Footer) -> DataFile:
    schema = metadata.schema()
    stats = data_file_statistics_from_parquet_metadata(
        parquet_metadata=footer.metadata,
        stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema))
    return DataFile.from_args(
        content=DataFileContent.DATA, file_path=footer.part.path, file_format=FileFormat.PARQUET,
        partition=stats.partition(metadata.spec(), schema), file_size_in_bytes=footer.part.bytes,
        sort_order_id=None, spec_id=metadata.default_spec_id, equality_ids=None,
        key_metadata=None, **stats.to_serialized_dict())


def _write_entries(pyio: IcebergFileIO, metadata: TableMetadata, location: str,
                   snapshot_id: int, entries: list[ManifestEntry]) -> ManifestFile:
    path = f"{location}/metadata/{uuid.uuid4()}-m0.avro"
    with write_manifest(2, metadata.spec(), metadata.schema(), pyio.new_output(path),
                        snapshot_id, AVRO_CODEC) as writer:
        for entry in entries:
            writer.add_entry(entry)
    return writer.to_manifest_file()


def live_entries(pyio: IcebergFileIO, snapshot: Snapshot) -> list[ManifestEntry]:
    return [entry for manifest in snapshot.manifests(pyio)
            for entry in manifest.fetch_manifest_entry(pyio, discard_deleted=True)]


def _manifests(pyio: IcebergFileIO, metadata: TableMetadata, location: str, planned: Planned,
               added: list[DataFile]) -> tuple[list[ManifestFile], list[DataFile]]:
    """The new snapshot's manifests, and the data files it removes."""
    sid = planned.snapshot_id
    manifests = []
    if added:
        manifests.append(_write_entries(pyio, metadata, location, sid, [
            ManifestEntry.from_args(status=ManifestEntryStatus.ADDED, snapshot_id=sid,
                                    data_file=f) for f in added]))
    parent = metadata.current_snapshot()
    if parent is None:
        return manifests, []
    if not planned.replace:
        return manifests + parent.manifests(pyio), []
    live = live_entries(pyio, parent)
    if live:
        manifests.append(_write_entries(pyio, metadata, location, sid, [
            ManifestEntry.from_args(status=ManifestEntryStatus.DELETED, snapshot_id=sid,
                                    sequence_number=e.sequence_number,
                                    file_sequence_number=e.file_sequence_number,
                                    data_file=e.data_file) for e in live]))
    return manifests, [e.data_file for e in live]


def _summary(metadata: TableMetadata, planned: Planned, added: list[DataFile],
             removed: list[DataFile]) -> Summary:
    collector = SnapshotSummaryCollector()
    for f in added:
        collector.add_file(f, metadata.schema(), metadata.spec())
    for f in removed:
        collector.remove_file(f, metadata.schema(), metadata.spec())
    operation = Operation.OVERWRITE if removed else Operation.APPEND
    parent = metadata.current_snapshot()
    return update_snapshot_summaries(
        Summary(operation, **collector.build(), **planned.properties),
        previous_summary=parent.summary if parent and parent.summary else None)


def add_snapshot(pyio: IcebergFileIO, metadata: TableMetadata, location: str,
                 planned: Planned) -> TableMetadata:
    """``metadata`` with one more snapshot, made current on ``main``."""
    footers = read_footers(pyio, planned)
    metadata = evolve_schema(metadata, planned.schema,
                             what=planned.properties.get("ddblake.snapshot-id", location))
    added = [data_file(metadata, f) for f in footers]
    manifests, removed = _manifests(pyio, metadata, location, planned, added)
    parent = metadata.current_snapshot()
    parent_id = parent.snapshot_id if parent else None
    sequence = metadata.next_sequence_number()
    list_path = f"{location}/metadata/snap-{planned.snapshot_id}-0-{uuid.uuid4()}.avro"
    with write_manifest_list(2, pyio.new_output(list_path), planned.snapshot_id, parent_id,
                             sequence, AVRO_CODEC) as writer:
        writer.add_manifests(manifests)
    snapshot = Snapshot.model_validate({
        "snapshot_id": planned.snapshot_id, "parent_snapshot_id": parent_id,
        "sequence_number": sequence, "timestamp_ms": planned.timestamp_ms,
        "manifest_list": list_path, "schema_id": metadata.current_schema_id,
        "summary": _summary(metadata, planned, added, removed)})
    updates: tuple[TableUpdate, ...] = (
        AddSnapshotUpdate(snapshot=snapshot),
        SetSnapshotRefUpdate.model_validate({
            "snapshot_id": planned.snapshot_id, "parent_snapshot_id": parent_id,
            "ref_name": MAIN_BRANCH, "type": SnapshotRefType.BRANCH}))
    return update_table_metadata(metadata, updates)
