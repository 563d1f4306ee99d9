"""Native export -> lake: convert a full export into a snapshot, an incremental export into
change batches, in parallel by data file, streaming and verified.

A full export becomes one snapshot whose consistency is ``exact`` at the export time and
whose id is derived from the export (``layout.derived_id``), so converting the same export
again finds the snapshot already there. Each data file becomes one or more parts
(``part-<file>-<seq>``), rolled at ``part_item_bytes`` of canonical item text, so a worker
holds at most one part in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from exporter.export_reader import (
    DataFile,
    Export,
    check_format,
    iter_lines,
    local_copy,
    verify_md5,
)
from exporter.parts import Builder, PartsDone, add_to, build_part, new_builder, record, unit_schema
from lake import layout
from lake.fileio import FileIO, load_file_io
from lake.progress import NullListener, ProgressListener
from lake.table_schemas import latest_schema
from lake.writers import SAMPLE_ITEMS, SnapshotWriter
from runtime.executor import Kit, make_executor, plan
from schemas.errors import CorruptDataError, UsageError
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Manifest, Source, parse_manifest
from schemas.table_schema import empty_schema

TASK = "convert"
# What the fork server imports for the workers (runtime.arrow_warmup: pyarrow's pandas shim).
WORKER_MODULES = ("exporter.native", "exporter.incremental", "runtime.arrow_warmup")


@dataclass(frozen=True)
class ConvertConfig:
    """How to convert: worker processes (1 = in this process; with ``engine="ray"``: units
    in flight on the cluster) and the part size target (bytes of canonical item text per
    part, which bounds each worker's memory)."""

    workers: int = field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)))
    part_item_bytes: int = 32 * 1024 * 1024
    profile: str | None = None
    region: str | None = None
    engine: str = "local"
    lake_format: int = 2  # docs/decisions/005-lake-format-2.md

    def __post_init__(self) -> None:
        if self.lake_format not in (1, 2):
            raise UsageError(f"lake_format must be 1 or 2, not {self.lake_format!r}")
        if self.engine not in ("local", "ray"):
            raise UsageError(f"unknown engine {self.engine!r}", hint="use --engine local or ray")
        if self.workers < 1:
            raise UsageError(f"workers must be at least 1, not {self.workers}")
        if self.part_item_bytes < 1024:
            raise UsageError(f"part size {self.part_item_bytes} is too small (min 1024 bytes)")


@dataclass(frozen=True)
class FileTask:
    """One data file to convert: everything a worker process needs, picklable."""

    index: int
    data_file: DataFile
    root_uri: str
    lake_uri: str
    table: str
    snapshot_id: str
    keys: KeySchema
    config: ConvertConfig
    schema_id: int | None = None  # format 2: the table's schema (None: a new table)


@dataclass
class FileResult:
    index: int
    done: PartsDone
    items: int
    item_bytes: int
    gzip_bytes: int


def iso_us(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def snapshot_id_for(export: Export) -> str:
    when = export.info.export_time or export.info.start_time
    if when is None:
        raise CorruptDataError(f"export {export.info.export_id} has no exportTime")
    return layout.derived_id(when, export.info.export_arn)


def _item_of(line: bytes, uri: str, number: int, names: tuple[str, ...]) -> dict[str, Any]:
    try:
        item: dict[str, Any] = orjson.loads(line)["Item"]
        for name in names:
            item[name]  # a missing key attribute raises KeyError
        return item
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise _bad_line(line, uri, number, names) from e


def _bad_line(line: bytes, uri: str, number: int, names: tuple[str, ...]) -> CorruptDataError:
    try:
        item = orjson.loads(line)["Item"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        return CorruptDataError(f"line {number} of {uri} is not a full-export item line: {e!r}",
                                hint="only full DYNAMODB_JSON exports become snapshots")
    missing = [n for n in names if not isinstance(item, dict) or n not in item]
    return CorruptDataError(f"line {number} of {uri} lacks a key attribute of "
                            f"{', '.join(missing)}",
                            hint="check the key schema (--partition-key/--sort-key)")


def convert_file(source: FileIO, lake: FileIO, task: FileTask) -> FileResult:
    """Verify one data file (MD5, gzip, item count) and write its parts."""
    data_file = task.data_file
    uri = source.full_uri(data_file.key)
    writer = SnapshotWriter(lake, task.table, task.snapshot_id, task.keys)
    result = FileResult(task.index, PartsDone(), 0, 0, 0)
    limit = task.config.part_item_bytes
    fmt = task.config.lake_format
    with local_copy(source, data_file.key) as path:
        result.gzip_bytes = verify_md5(path, data_file, uri)
        builder = new_builder(fmt, task.table, task.keys,
                              unit_schema(lake, task.table, task.schema_id))
        names = task.keys.names
        for number, line in enumerate(iter_lines(path, uri), 1):
            builder.add(_item_of(line, uri, number, names))
            if len(builder) == SAMPLE_ITEMS:
                writer.settle(builder)
            if builder.item_bytes >= limit:
                _flush(writer, builder, task, result)
                builder = new_builder(fmt, task.table, task.keys, writer.schema)
        if len(builder):
            _flush(writer, builder, task, result)
    data_file.check_count(uri, result.items)
    return result


def _flush(writer: SnapshotWriter, builder: Builder, task: FileTask, result: FileResult) -> None:
    part = build_part(writer, builder)
    info = writer.write_part(layout.part_name(task.index, len(result.done.parts)), part)
    record(result.done, info, part)
    result.items += part.rows
    result.item_bytes += part.item_bytes


def storage(kit: Kit, uri: str, config: ConvertConfig) -> FileIO:
    """The FileIO of ``uri`` for this worker (made once; a serial run finds the driver's)."""
    def make() -> FileIO:
        from lake.aws import make_session

        session = make_session(config.profile, config.region) if uri.startswith("s3://") else None
        return load_file_io(uri, session=session)

    io: FileIO = kit.cached(f"io:{uri}", make)
    return io


def seeds(*ios: FileIO) -> dict[str, FileIO]:
    """The driver's own storage, for units run in its process."""
    return {f"io:{io.uri}": io for io in ios}


def convert_file_unit(task: FileTask, kit: Kit) -> FileResult:
    """The conversion's unit on any executor: reads its data file from the export, writes
    its parts to the lake (under names derived from the file, so a retry rewrites the same
    parts) and returns them; the driver commits."""
    return convert_file(storage(kit, task.root_uri, task.config),
                        storage(kit, task.lake_uri, task.config), task)


def convert_full(export: Export, source: FileIO, lake: FileIO, *, keys: KeySchema,
                 table_description: dict[str, Any], table: str | None = None,
                 config: ConvertConfig | None = None,
                 listener: ProgressListener | None = None) -> tuple[Manifest, bool]:
    """Convert a full export into a committed snapshot; ``(manifest, created)``.

    ``created`` is False when the snapshot of this export was already in the lake.
    """
    config = config or ConvertConfig()
    listener = listener or NullListener()
    info = export.info
    check_format(info)
    if info.incremental:
        raise UsageError(f"export {info.export_id} is incremental; it becomes change records, "
                         "not a snapshot", hint="use convert_incremental / `--mode incremental`")
    table = layout.check_table_name(table or info.table_name)
    snapshot_id = snapshot_id_for(export)
    existing = layout.snapshot_manifest(table, snapshot_id)
    if lake.exists(existing):
        listener.message(f"export {info.export_id} is already snapshot {snapshot_id}")
        return parse_manifest(lake.read(existing), what=lake.full_uri(existing)), False
    writer = SnapshotWriter(lake, table, snapshot_id, keys)
    latest = latest_schema(lake, table) if config.lake_format == 2 else None
    schema_id = latest.schema_id if latest else None
    tasks, workers = plan([FileTask(i, f, source.uri, lake.uri, table, snapshot_id, keys, config,
                                    schema_id) for i, f in enumerate(export.files)],
                          lambda task: task.data_file.item_count, config.workers)
    executor = make_executor(config.engine, workers)
    listener.started(TASK, total=float(info.item_count), unit="items")
    item_bytes = gzip_bytes = 0
    for result in executor.map(convert_file_unit, tasks, preload=WORKER_MODULES,
                               seeds=seeds(source, lake)):
        add_to(writer, result.done)
        item_bytes += result.item_bytes
        gzip_bytes += result.gzip_bytes
        listener.advanced(TASK, result.items, bytes=float(result.gzip_bytes))
    listener.finished(TASK)
    if config.lake_format == 2 and writer.schema is None:  # no part at all
        writer.schema = latest or empty_schema(table, keys)
    at = iso_us(info.export_time or info.start_time)  # type: ignore[arg-type]
    manifest = writer.commit(
        source=Source(table_name=table, method="export", table_arn=info.table_arn,
                      region=info.region, account=info.account, export_arn=info.export_arn),
        consistency=Consistency("exact", at, at), table_description=table_description,
        item_bytes=item_bytes,
        extra={"native_export": {**export_extra(export), "gzip_bytes": gzip_bytes}})
    if manifest.totals.items != info.item_count:
        raise CorruptDataError(f"converted {manifest.totals.items} items, the export says "
                               f"{info.item_count}")
    return manifest, True


def export_extra(export: Export) -> dict[str, Any]:
    info = export.info
    return {"export_id": info.export_id, "export_arn": info.export_arn,
            "table_id": info.table_id, "uri": export.uri(export.export_dir),
            "export_type": info.export_type, "files": len(export.files),
            "item_count": info.item_count, "summary_md5": export.summary_check.to_dict()}
