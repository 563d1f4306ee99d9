"""Incremental exports -> change records, and the chain of exported windows.

Each line of an incremental export is ``{"Metadata": {"WriteTimestampMicros": ...}, "Keys":
..., "NewImage"?: ..., "OldImage"?: ...}``; the operation is not labelled and is inferred:

=================== ============================ ===================================
view                members present              operation
=================== ============================ ===================================
NEW_AND_OLD_IMAGES  Keys + NewImage              INSERT
NEW_AND_OLD_IMAGES  Keys + OldImage + NewImage   MODIFY
NEW_AND_OLD_IMAGES  Keys + OldImage              REMOVE
NEW_IMAGE           Keys + NewImage              MODIFY (insert or update: the view
                                                 cannot tell; the image is the whole item)
NEW_IMAGE           Keys only                    REMOVE
=================== ============================ ===================================

A new image always replaces the whole item (an update that removed an attribute simply
lacks it). Records are written as change batches whose ids derive from the export, data
file and chunk, so converting an export again commits nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from exporter.export_reader import Export, check_format, iter_lines, local_copy, verify_md5
from exporter.native import WORKER_MODULES, ConvertConfig, iso_us, seeds, storage
from lake import layout
from lake.fileio import FileIO
from lake.progress import NullListener, ProgressListener
from lake.writers import write_change_batch
from runtime.executor import Kit, make_executor, plan
from schemas.changes import ChangeRecord, Operation
from schemas.errors import CorruptDataError, UsageError
from schemas.keys import KeySchema

TASK = "convert"
BATCH_ROWS = 50_000


def timestamp_us(metadata: Any) -> int:
    """``WriteTimestampMicros`` as ``{"N": "..."}`` (real exports) or a plain string/number."""
    value = metadata["WriteTimestampMicros"]
    if isinstance(value, dict):
        value = value["N"]
    return int(value)


def operation(view: str, new: Any, old: Any) -> Operation:
    if new is None:
        return "REMOVE"
    if view == "NEW_IMAGE":
        return "MODIFY"
    return "INSERT" if old is None else "MODIFY"


def change_of(line: bytes, *, view: str, keys: KeySchema, source: str) -> ChangeRecord:
    """One incremental export line as a change record (raises KeyError/TypeError/ValueError
    on a malformed line; the caller names the file and line)."""
    data = orjson.loads(line)
    event_us = timestamp_us(data["Metadata"])
    key_item = data["Keys"]
    new, old = data.get("NewImage"), data.get("OldImage")
    if new is None and old is None and view != "NEW_IMAGE":
        raise ValueError("neither NewImage nor OldImage in a NEW_AND_OLD_IMAGES export")
    for name in keys.names:
        if name not in key_item or (new is not None and new.get(name) != key_item[name]):
            raise ValueError(f"key attribute {name!r} missing or differing from Keys")
    return ChangeRecord(event_us=event_us, op=operation(view, new, old), keys=key_item,
                        new=new, old=old, source=source, seq=f"{event_us:020d}")


@dataclass(frozen=True)
class ChangeTask:
    index: int
    export: Export
    lake_uri: str
    table: str
    keys: KeySchema
    config: ConvertConfig


@dataclass
class ChangeResult:
    index: int
    batches: list[str]
    rows: int
    created: int
    gzip_bytes: int


def batch_id_for(export: Export, index: int, chunk: int) -> str:
    when = export.info.from_time or export.info.start_time
    assert when is not None
    return layout.derived_id(when, f"{export.info.export_arn}#{index}#{chunk}")


def convert_changes_file(source: FileIO, lake: FileIO, task: ChangeTask) -> ChangeResult:
    """Verify one incremental data file and write it as one or more change batches."""
    export, info = task.export, task.export.info
    data_file = export.files[task.index]
    uri = source.full_uri(data_file.key)
    view = info.output_view or "NEW_AND_OLD_IMAGES"
    origin = f"export:{info.export_arn}"
    result = ChangeResult(task.index, [], 0, 0, 0)
    records: list[ChangeRecord] = []
    with local_copy(source, data_file.key) as path:
        result.gzip_bytes = verify_md5(path, data_file, uri)
        for number, line in enumerate(iter_lines(path, uri), 1):
            try:
                records.append(change_of(line, view=view, keys=task.keys, source=origin))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise CorruptDataError(f"line {number} of {uri} is not an incremental export "
                                       f"line: {e!r}", hint="check the key schema and that "
                                       "the export is not damaged") from e
            if len(records) >= BATCH_ROWS:
                _write(lake, task, records, result)
                records = []
        if records:
            _write(lake, task, records, result)
    data_file.check_count(uri, result.rows, "records")
    return result


def _source(export: Export) -> dict[str, Any]:
    info = export.info
    return {"kind": "incremental_export", "export_arn": info.export_arn,
            "table_arn": info.table_arn, "table_id": info.table_id,
            "from": iso_us(info.from_time) if info.from_time else None,
            "to": iso_us(info.to_time) if info.to_time else None,
            "view": info.output_view, "uri": export.uri(export.export_dir)}


def _write(lake: FileIO, task: ChangeTask, records: list[ChangeRecord],
           result: ChangeResult) -> None:
    batch_id = batch_id_for(task.export, task.index, len(result.batches))
    positions = {"export_arn": task.export.info.export_arn,
                 "file": task.export.files[task.index].key if records else "",
                 "chunk": str(len(result.batches))}
    _, created = write_change_batch(lake, task.table, task.keys, records,
                                    source=_source(task.export), positions=positions,
                                    batch_id=batch_id)
    result.batches.append(batch_id)
    result.rows += len(records)
    result.created += int(created)


def convert_changes_unit(task: ChangeTask, kit: Kit) -> ChangeResult:
    """The unit on any executor: one data file -> change batches whose ids derive from the
    export, file and chunk (a retry writes the same batches)."""
    return convert_changes_file(storage(kit, task.export.root_uri, task.config),
                                storage(kit, task.lake_uri, task.config), task)


@dataclass
class ChangesOutcome:
    export_id: str
    batches: list[str]
    rows: int
    created: int
    gzip_bytes: int


def convert_incremental(export: Export, source: FileIO, lake: FileIO, *, keys: KeySchema,
                        table: str | None = None, config: ConvertConfig | None = None,
                        listener: ProgressListener | None = None) -> ChangesOutcome:
    """Convert an incremental export into change batches (idempotent)."""
    config = config or ConvertConfig()
    listener = listener or NullListener()
    info = export.info
    check_format(info)
    if not info.incremental:
        raise UsageError(f"export {info.export_id} is a full export, not an incremental one")
    table = layout.check_table_name(table or info.table_name)
    tasks, workers = plan([ChangeTask(i, export, lake.uri, table, keys, config)
                           for i in range(len(export.files))],
                          lambda task: export.files[task.index].item_count, config.workers)
    executor = make_executor(config.engine, workers)
    outcome = ChangesOutcome(info.export_id, [], 0, 0, 0)
    listener.started(TASK, total=float(info.item_count), unit="records")
    for result in executor.map(convert_changes_unit, tasks, preload=WORKER_MODULES,
                               seeds=seeds(source, lake)):
        outcome.batches += result.batches
        outcome.rows += result.rows
        outcome.created += result.created
        outcome.gzip_bytes += result.gzip_bytes
        listener.advanced(TASK, result.rows, bytes=float(result.gzip_bytes))
    listener.finished(TASK)
    if not outcome.batches:  # an empty window is still a covered window: commit it
        task = ChangeTask(0, export, lake.uri, table, keys, config)
        empty = ChangeResult(0, [], 0, 0, 0)
        _write(lake, task, [], empty)
        outcome.batches, outcome.created = empty.batches, empty.created
    outcome.batches.sort()
    return outcome
