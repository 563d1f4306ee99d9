"""One Scan segment -> part files + a checkpoint: the export's unit of work.

A :class:`SegmentTask` is plain, picklable data that carries everything the unit needs (the
lake URI, the AWS profile and region, the write options, its segment); :func:`scan_unit` runs
it on any executor (:mod:`runtime`): it builds its own clients once per worker, reads its
checkpoint from the lake and writes parts and checkpoints to the lake. Run twice (a retry
after a lost worker), it continues from the last checkpoint; only the driver commits.

Memory is bounded by one part: pages are fed into a part builder (``exporter.parts``) and the
part is written and dropped once its canonical item bytes reach the target (always at a page
boundary, so the checkpoint's ``LastEvaluatedKey`` describes exactly what was written).
A segment ends only when a page has no ``LastEvaluatedKey`` (empty pages happen).
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exporter.pages import fetch_page, install_raw_scan, scan_params
from exporter.parts import Builder, build_part, new_builder, record, unit_schema
from exporter.state import Checkpoint, load_checkpoint, save_checkpoint
from lake import layout
from lake.aws import make_client, make_session
from lake.fileio import FileIO, WriteOptions, load_file_io
from lake.writers import SnapshotWriter
from runtime.capacity import Limiter
from runtime.executor import Kit
from schemas.errors import DdbLakeError
from schemas.keys import KeySchema


class ExportCancelled(DdbLakeError):
    """The export was stopped (Ctrl-C, or another segment failed); state is saved."""

    exit_code = 130


@dataclass(frozen=True)
class SegmentTask:
    lake: str
    table: str
    snapshot_id: str
    segment: int
    total_segments: int
    keys: KeySchema
    consistent_read: bool
    target_part_bytes: int
    retry_deadline_s: float
    page_limit: int | None = None
    profile: str | None = None
    region: str | None = None
    options: WriteOptions | None = None
    lake_format: int = 2
    schema_id: int | None = None  # format 2: the table's schema (None: a new table)


@dataclass
class SegmentEnv:
    ddb: Any
    io: FileIO
    bucket: Limiter | None = None
    report: Callable[[int, int], None] = lambda items, nbytes: None
    stopped: Callable[[], bool] = lambda: False


@dataclass
class SegmentResult:
    segment: int
    checkpoint: Checkpoint
    pages: int = 0
    scanned: int = 0
    consumed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def scan_unit(task: SegmentTask, kit: Kit) -> SegmentResult:
    """The export's unit on any executor: clients come from the worker's cache (a serial run
    finds the driver's own session and lake there), the read budget from the run."""
    session = kit.cached("session", lambda: make_session(task.profile, task.region))
    io = kit.cached("lake", lambda: load_file_io(task.lake, session=session,
                                                 options=task.options))
    ddb = kit.cached("ddb-scan", lambda: install_raw_scan(make_client("dynamodb", session)))
    return run_segment(task, SegmentEnv(ddb, io, kit.read, kit.report, kit.stopped))


def run_segment(task: SegmentTask, env: SegmentEnv) -> SegmentResult:
    """Scan the segment from its checkpoint to the end, writing parts as it goes."""
    checkpoint = load_checkpoint(env.io, task.table, task.snapshot_id, task.segment)
    result = SegmentResult(task.segment, checkpoint)
    env.report(checkpoint.items, 0)
    if checkpoint.done:
        return result
    was_enabled = gc.isenabled()
    gc.disable()  # pages make ~100k containers that all survive until the part is written
    try:
        _scan(task, env, result)
    finally:
        if was_enabled:
            gc.enable()
    return result


def _scan(task: SegmentTask, env: SegmentEnv, result: SegmentResult) -> None:
    checkpoint = result.checkpoint
    writer = SnapshotWriter(env.io, task.table, task.snapshot_id, task.keys)
    schema_id = checkpoint.schema_id if checkpoint.schema_id is not None else task.schema_id
    schema = unit_schema(env.io, task.table, schema_id)
    builder = new_builder(task.lake_format, task.table, task.keys, schema)
    start = checkpoint.last_key
    while True:
        if env.stopped():
            raise ExportCancelled(f"export of {task.table} stopped in segment {task.segment}",
                                  hint="re-run with --resume to continue")
        if env.bucket is not None:
            env.bucket.acquire()
        params = scan_params(task.table, task.segment, task.total_segments,
                             consistent_read=task.consistent_read, start_key=start,
                             limit=task.page_limit)
        page = fetch_page(env.ddb, params, deadline_s=task.retry_deadline_s)
        if env.bucket is not None:
            env.bucket.consume(page.consumed)
        result.pages += 1
        result.consumed += page.consumed
        result.scanned += len(page.items)
        for item in page.items:
            builder.add(item)
        writer.settle(builder)
        env.report(len(page.items), page.body_bytes)
        start = page.last_key
        if start is None or builder.item_bytes >= task.target_part_bytes:
            _flush(task, env, writer, builder, checkpoint, start)
            builder = new_builder(task.lake_format, task.table, task.keys, writer.schema)
            gc.collect(1)
        if start is None:
            return


def _flush(task: SegmentTask, env: SegmentEnv, writer: SnapshotWriter, builder: Builder,
           checkpoint: Checkpoint, last_key: Any) -> None:
    if len(builder):
        part = build_part(writer, builder)
        name = layout.part_name(task.segment, len(checkpoint.parts))
        info = writer.write_part(name, part)
        record(checkpoint, info, part)
        checkpoint.item_bytes += part.item_bytes
    checkpoint.last_key = last_key
    checkpoint.done = last_key is None
    save_checkpoint(env.io, task.table, task.snapshot_id, checkpoint)
