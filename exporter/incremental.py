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

The batches of an export become visible together: every file is converted and checked and
its parts written first, then the batch manifests are committed (a damaged file commits
nothing of the export). Each batch's source names the export's window
(``covered_from_us``..``covered_to_us``, inclusive µs) and its item count
(``export_items``): ``lake.coverage`` counts the window as change log once all of the
export's batches are committed. A record's ``_seq`` is its write
time, then its window's start, then the export id, so that when windows overlap the same
record from two exports replays in one order, whatever order they were imported in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from exporter.export_reader import Export, check_format, iter_lines, local_copy, verify_md5
from exporter.native import WORKER_MODULES, ConvertConfig, iso_us, seeds, storage
from lake import layout
from lake.commit import commit_change_batch
from lake.fileio import FileIO
from lake.progress import NullListener, ProgressListener
from lake.writers import stage_change_batch
from runtime.executor import Kit, make_executor, plan
from schemas.changes import ChangeBatch, ChangeRecord, Operation
from schemas.errors import CorruptDataError, DdbLakeError, ManifestError, UsageError
from schemas.keys import KeySchema

TASK = "convert"
BATCH_ROWS = 50_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def change_of(line: bytes, *, view: str, keys: KeySchema, source: str,
              order: str = "") -> ChangeRecord:
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
                        new=new, old=old, source=source, seq=f"{event_us:020d}{order}")


def seq_suffix(export: Export) -> str:
    """Orders one write's records from overlapping exports: the later window, then the
    export id (the record of the window that started later saw more of the history)."""
    start = export.info.from_time or export.info.start_time
    start_us = micros(start) if start is not None else 0
    return f".{start_us:020d}.{export.info.export_id}"


def micros(when: datetime) -> int:
    """µs since the epoch, exactly (no float)."""
    return (when - _EPOCH) // timedelta(microseconds=1)


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
    staged: list[ChangeBatch] = field(default_factory=list)  # written, not yet committed


def batch_id_for(export: Export, index: int, chunk: int) -> str:
    when = export.info.from_time or export.info.start_time
    assert when is not None
    return layout.derived_id(when, f"{export.info.export_arn}#{index}#{chunk}")


def _records(path: Path, uri: str, task: ChangeTask) -> Iterator[ChangeRecord]:
    """The file's lines as change records; a malformed line is named."""
    info = task.export.info
    view = info.output_view or "NEW_AND_OLD_IMAGES"
    origin = f"export:{info.export_arn}"
    order = seq_suffix(task.export)
    for number, line in enumerate(iter_lines(path, uri), 1):
        try:
            yield change_of(line, view=view, keys=task.keys, source=origin, order=order)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise CorruptDataError(f"line {number} of {uri} is not an incremental export "
                                   f"line: {e!r}", hint="check the key schema and that "
                                   "the export is not damaged") from e


def convert_changes_file(source: FileIO, lake: FileIO, task: ChangeTask) -> ChangeResult:
    """Verify one incremental data file and write it as one or more change batches.

    Nothing of the file is committed before all of it is proven (every line and the line
    count): a file of one batch is checked in memory; a bigger one is read twice."""
    data_file = task.export.files[task.index]
    uri = source.full_uri(data_file.key)
    result = ChangeResult(task.index, [], 0, 0, 0)
    records: list[ChangeRecord] = []
    with local_copy(source, data_file.key) as path:
        result.gzip_bytes = verify_md5(path, data_file, uri)
        if data_file.item_count > BATCH_ROWS:
            data_file.check_count(uri, sum(1 for _ in _records(path, uri, task)), "records")
        for number, record in enumerate(_records(path, uri, task), 1):
            if number > data_file.item_count:
                data_file.check_count(uri, number, "records (at least)")
            records.append(record)
            if len(records) >= BATCH_ROWS:
                _write(lake, task, records, result)
                records = []
        data_file.check_count(uri, result.rows + len(records), "records")
        if records:
            _write(lake, task, records, result)
    return result


def _source(export: Export) -> dict[str, Any]:
    info = export.info
    assert info.from_time is not None and info.to_time is not None  # checked before converting
    return {"kind": "incremental_export", "export_arn": info.export_arn,
            "table_arn": info.table_arn, "table_id": info.table_id,
            "from": iso_us(info.from_time), "to": iso_us(info.to_time),
            "covered_from_us": micros(info.from_time),
            "covered_to_us": micros(info.to_time) - 1,  # [from, to): to is exclusive
            "export_items": info.item_count, "view": info.output_view,
            "summary_md5": export.summary_check.to_dict(),
            "uri": export.uri(export.export_dir)}


def _write(lake: FileIO, task: ChangeTask, records: list[ChangeRecord],
           result: ChangeResult) -> None:
    """Write one batch's part; its manifest is committed once the whole export is proven
    (``commit_staged``). A batch already committed (an earlier run) is kept as it is."""
    batch_id = batch_id_for(task.export, task.index, len(result.batches))
    positions = {"export_arn": task.export.info.export_arn,
                 "file": task.export.files[task.index].key if records else "",
                 "chunk": str(len(result.batches))}
    if not lake.exists(layout.change_manifest(task.table, batch_id)):
        result.staged.append(stage_change_batch(
            lake, task.table, task.keys, records, source=_source(task.export),
            positions=positions, batch_id=batch_id))
    result.batches.append(batch_id)
    result.rows += len(records)


def _unstage(lake: FileIO, staged: list[ChangeBatch]) -> None:
    for batch in staged:
        for part in batch.parts:
            lake.delete(layout.table_key(batch.table, part.path))


def commit_staged(lake: FileIO, staged: list[ChangeBatch]) -> int:
    """Commit the manifests of an export's staged batches (all of its files passed)."""
    return sum(int(commit_change_batch(lake, b))
               for b in sorted(staged, key=lambda b: b.batch_id))


def convert_changes_unit(task: ChangeTask, kit: Kit) -> ChangeResult:
    """The unit on any executor: one data file -> change batches whose ids derive from the
    export, file and chunk (a retry writes the same batches)."""
    return convert_changes_file(storage(kit, task.export.root_uri, task.config),
                                storage(kit, task.lake_uri, task.config), task)


def check_window(export: Export) -> None:
    """An incremental export names its window ``[exportFromTime, exportToTime)``."""
    info = export.info
    if info.from_time is None or info.to_time is None:
        raise ManifestError(f"incremental export {info.export_id} has no "
                            "exportFromTime/exportToTime in manifest-summary.json",
                            hint="the summary is damaged or was edited; request a new export")
    if info.from_time >= info.to_time:
        raise ManifestError(f"incremental export {info.export_id}: exportFromTime "
                            f"{iso_us(info.from_time)} is not before exportToTime "
                            f"{iso_us(info.to_time)}",
                            hint="the summary is damaged or was edited; request a new export")


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
    check_window(export)
    table = layout.check_table_name(table or info.table_name)
    tasks, workers = plan([ChangeTask(i, export, lake.uri, table, keys, config)
                           for i in range(len(export.files))],
                          lambda task: export.files[task.index].item_count, config.workers)
    executor = make_executor(config.engine, workers)
    outcome = ChangesOutcome(info.export_id, [], 0, 0, 0)
    staged: list[ChangeBatch] = []
    listener.started(TASK, total=float(info.item_count), unit="records")
    try:
        for result in executor.map(convert_changes_unit, tasks, preload=WORKER_MODULES,
                                   seeds=seeds(source, lake)):
            outcome.batches += result.batches
            outcome.rows += result.rows
            outcome.gzip_bytes += result.gzip_bytes
            staged += result.staged
            listener.advanced(TASK, result.rows, bytes=float(result.gzip_bytes))
    except DdbLakeError:
        _unstage(lake, staged)  # a file failed: the export's parts already written go too
        raise
    listener.finished(TASK)
    if not outcome.batches:  # an empty window is still a covered window: commit it
        empty = ChangeResult(0, [], 0, 0, 0)
        _write(lake, ChangeTask(0, export, lake.uri, table, keys, config), [], empty)
        outcome.batches, staged = empty.batches, empty.staged
    outcome.created = commit_staged(lake, staged)
    outcome.batches.sort()
    return outcome
