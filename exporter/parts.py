"""Part builders of a unit of work (a scan segment, an export data file) in the lake's format.

Format 2 (the default): every part of a snapshot is built against one table schema. A unit
starts with the schema the driver read when the export began; for a new table there is none
yet, so the unit creates schema 1 from the statistics of its first items (or reads it, when
another unit created it first) and places them against it: after ``SAMPLE_ITEMS`` items, or
when its first part is built if that part is smaller (``SnapshotWriter.settle``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.state import Checkpoint
from lake.fileio import FileIO
from lake.table_schemas import load_schema
from lake.writers import SnapshotWriter
from schemas.codec import EncodedPart, PartBuilder
from schemas.keys import KeySchema
from schemas.manifest import PartInfo
from schemas.projection import ColumnDecision
from schemas.rowcodec import EncodedRows, RowPartBuilder
from schemas.table_schema import AttributeStats, TableSchema, empty_schema

LAKE_FORMATS = (1, 2)
Builder = PartBuilder | RowPartBuilder


@dataclass
class PartsDone:
    """What a unit wrote, for its checkpoint and for the driver's commit."""

    parts: list[PartInfo] = field(default_factory=list)
    columns: list[list[ColumnDecision]] = field(default_factory=list)  # format 1
    stats: AttributeStats = field(default_factory=AttributeStats)  # format 2
    schema_id: int | None = None  # format 2


def unit_schema(io: FileIO, table: str, schema_id: int | None) -> TableSchema | None:
    """The schema a unit starts with (None: a new table, created by the first part)."""
    return None if schema_id is None else load_schema(io, table, schema_id)


def new_builder(lake_format: int, table: str, keys: KeySchema,
                schema: TableSchema | None) -> Builder:
    if lake_format == 1:
        return PartBuilder(keys)
    return RowPartBuilder(schema or empty_schema(table, keys))


def build_part(writer: SnapshotWriter, builder: Builder) -> EncodedPart | EncodedRows:
    """Build the part; a format 2 part of a new table first gets the table's schema 1."""
    writer.settle(builder, done=True)
    return builder.build()


def record(done: PartsDone | Checkpoint, info: PartInfo, part: EncodedPart | EncodedRows
           ) -> None:
    """Note a written part in a unit's result (or a scan segment's checkpoint)."""
    done.parts.append(info)
    if isinstance(part, EncodedRows):
        done.stats = done.stats.merge(part.stats)
        done.schema_id = part.schema_id
        done.columns.append([])
    else:
        done.columns.append(list(part.columns))


def add_to(writer: SnapshotWriter, done: PartsDone | Checkpoint) -> None:
    """Give the driver's writer what a unit wrote."""
    if done.schema_id is None:
        for info, columns in zip(done.parts, done.columns, strict=True):
            writer.add(info, columns)
        return
    if writer.schema is None or writer.schema.schema_id != done.schema_id:
        writer.schema = load_schema(writer.io, writer.table, done.schema_id)
    for info in done.parts:
        writer.add_rows(info, AttributeStats(), done.schema_id)
    writer.stats = writer.stats.merge(done.stats)
