"""``export_table``: a consistent-enough, verified Parquet snapshot of a table by parallel Scan.

1. Describe the table (everything a restore needs to rebuild it) and save the run state
   under ``state/`` (this is also the check that the lake is writable), or, with
   ``resume``, load the most recent uncommitted run. Either way the run holds the
   export's lock (:mod:`lake.joblock`) until it ends: a second run of the same export is
   refused with exit code 10, and the export stays resumable however the holder ends.
2. Scan every segment (in this process or on worker processes), writing parts and
   checkpoints as they go.
3. Commit the manifest (source ``scan``, consistency ``fuzzy`` over the scan window), then
   delete the run state. Nothing is visible before the manifest exists.
"""

from __future__ import annotations

import time
from typing import Any

from exporter.config import ExportConfig, ExportResult
from exporter.describe import describe_table
from exporter.parts import add_to, unit_schema
from exporter.segment import SegmentResult, SegmentTask, scan_unit
from exporter.state import (
    RunState,
    delete_state,
    load_checkpoint,
    load_run,
    lock_export,
    pending_exports,
    run_key,
    save_run,
)
from exporter.workers import WORKER_MODULES
from lake import layout
from lake.aws import make_client, make_session
from lake.fileio import FileIO, WriteOptions, load_file_io
from lake.joblock import JobLock
from lake.locks import export_options
from lake.progress import NullListener, ProgressListener
from lake.table_schemas import latest_schema
from lake.writers import SnapshotWriter, utc_now
from runtime.capacity import Budgets
from runtime.executor import Executor, make_executor
from runtime.processes import prestart
from schemas.errors import BusyError, NotFoundError, UsageError
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Manifest, Source
from schemas.table_schema import empty_schema

TASK = "export"


def export_table(config: ExportConfig, *, session: Any = None,
                 listener: ProgressListener | None = None,
                 executor: Executor | None = None) -> ExportResult:
    """Export ``config.table`` into ``config.lake`` as one committed snapshot. ``executor``
    runs the segments (default: ``config.engine`` with ``config.workers``)."""
    listener = listener or NullListener()
    started = time.monotonic()
    if config.engine == "local" and config.resolve_workers() > 1:
        prestart(WORKER_MODULES)
    session = session or make_session(config.profile, config.region)
    io = _open_lake(config, session)
    if executor is None and config.engine != "local":
        executor = make_executor(config.engine, config.workers)
    workers = executor.workers if executor is not None else config.resolve_workers()
    run, resumed, lock = (_resume_run(io, config) if config.resume
                          else _new_run(io, config, session, workers))
    try:
        workers = min(workers, run.segments)
        executor = executor or make_executor(config.engine, workers)
        listener.message(f"{'resuming' if resumed else 'exporting'} {run.table} into "
                         f"{io.full_uri(layout.snapshot_dir(run.table, run.snapshot_id))} "
                         f"({run.segments} segments, {workers} workers, {executor.engine})")
        results = _scan(io, config, run, executor, session, listener)
        lock.check()  # an S3 lease lost while scanning: another run may own the state now
        manifest = _commit(io, run, results)
        delete_state(io, run.table, run.snapshot_id)
    except BaseException:
        lock.release()
        raise
    lock.release(delete=True)
    return ExportResult(manifest, io.uri, run.segments, workers, time.monotonic() - started,
                        resumed, sum(r.consumed for r in results),
                        {"pages": sum(r.pages for r in results),
                         "scanned_this_run": sum(r.scanned for r in results),
                         "engine": executor.engine, "units_per_node": dict(executor.nodes)})


def _open_lake(config: ExportConfig, session: Any) -> FileIO:
    """The lake, with the write options of --storage-class/--kms-key/--lock-mode (checked:
    an S3 lake, and a bucket with Object Lock when locking)."""
    io = load_file_io(config.lake, session=session)
    options = export_options(io, storage_class=config.storage_class, kms_key=config.kms_key,
                             lock_mode=config.lock_mode, lock_days=config.lock_days)
    if options == WriteOptions():
        return io
    return load_file_io(config.lake, session=session, options=options)


def _new_run(io: FileIO, config: ExportConfig, session: Any,
             workers: int) -> tuple[RunState, bool, JobLock]:
    ddb = make_client("dynamodb", session)
    description = describe_table(ddb, config.table)
    segments = config.resolve_segments(description.get("TableSizeBytesEstimate"), workers)
    latest = latest_schema(io, config.table) if config.lake_format == 2 else None
    run = RunState(layout.new_id(), config.table, segments, config.consistent_read, utc_now(),
                   KeySchema.from_description(description), description, config.lake_format,
                   latest.schema_id if latest else None)
    lock = lock_export(io, run.table, run.snapshot_id)  # held before any state exists
    try:
        save_run(io, run)
    except BaseException:
        lock.release(delete=True)
        raise
    return run, False, lock


def _resume_run(io: FileIO, config: ExportConfig) -> tuple[RunState, bool, JobLock]:
    """The most recent export of the table that has state but no manifest, locked: a
    second run of it is refused (BusyError) while this one holds it."""
    for snapshot_id in reversed(pending_exports(io, config.table)):
        if io.exists(layout.snapshot_manifest(config.table, snapshot_id)):
            _clean_up(io, config.table, snapshot_id)
            continue
        lock = lock_export(io, config.table, snapshot_id)
        try:
            run = _locked_run(io, config, snapshot_id)
        except BaseException:
            lock.release()
            raise
        if run is not None:
            return run, True, lock
        lock.release(delete=True)  # nothing to resume there: its state is gone now
    raise NotFoundError(f"no interrupted export of table {config.table} in {io.uri}",
                        hint="run the export without --resume")


def _clean_up(io: FileIO, table: str, snapshot_id: str) -> None:
    """Delete the state of a committed export whose run died before deleting it (unless
    its run is still at it)."""
    try:
        lock = lock_export(io, table, snapshot_id)
    except BusyError:
        return
    delete_state(io, table, snapshot_id)
    lock.release(delete=True)


def _locked_run(io: FileIO, config: ExportConfig, snapshot_id: str) -> RunState | None:
    """The run state of an export we hold; None (and its state deleted) when it was
    committed meanwhile or its first run died before saving it."""
    if io.exists(layout.snapshot_manifest(config.table, snapshot_id)) or \
            not io.exists(run_key(config.table, snapshot_id)):
        delete_state(io, config.table, snapshot_id)
        return None
    run = load_run(io, config.table, snapshot_id)
    if config.segments and config.segments != run.segments:
        raise UsageError(f"the interrupted export {snapshot_id} used {run.segments} "
                         f"segments, not {config.segments}",
                         hint="leave out --segments when resuming")
    return run


def _scan(io: FileIO, config: ExportConfig, run: RunState, executor: Executor, session: Any,
          listener: ProgressListener) -> list[SegmentResult]:
    options = getattr(io, "options", None)
    schema_id = _schema_id(io, run)
    tasks = [SegmentTask(config.lake, run.table, run.snapshot_id, n, run.segments, run.keys,
                         run.consistent_read, config.target_part_bytes,
                         config.retry_deadline_s, config.page_limit, config.profile,
                         config.region, options, run.lake_format, schema_id)
             for n in range(run.segments)]

    def report(items: int, nbytes: int) -> None:
        listener.advanced(TASK, items, bytes=nbytes)

    listener.started(TASK, total=run.table_description.get("ItemCountEstimate") or None)
    try:
        return list(executor.map(scan_unit, tasks, budgets=Budgets(read=config.max_rcu),
                                 progress=report, preload=WORKER_MODULES,
                                 seeds={"session": session, "lake": io}))
    finally:
        listener.finished(TASK)


def _schema_id(io: FileIO, run: RunState) -> int | None:
    """The schema every segment writes against: the table's when the export began; for a
    new table, the one its first part created (a resumed run reads it from a checkpoint)."""
    if run.lake_format == 1 or run.schema_id is not None:
        return run.schema_id
    ids = {c.schema_id for n in range(run.segments)
           if (c := load_checkpoint(io, run.table, run.snapshot_id, n)).schema_id is not None}
    return min(ids) if ids else None


def _arn_fields(arn: str | None) -> tuple[str | None, str | None]:
    parts = (arn or "").split(":")
    return (parts[3] or None, parts[4] or None) if len(parts) > 5 else (None, None)


def _commit(io: FileIO, run: RunState, results: list[SegmentResult]) -> Manifest:
    writer = SnapshotWriter(io, run.table, run.snapshot_id, run.keys)
    item_bytes = 0
    for result in sorted(results, key=lambda r: r.segment):
        checkpoint = result.checkpoint
        if not checkpoint.done:
            raise UsageError(f"segment {result.segment} did not finish; not committing",
                             hint="re-run with --resume")
        add_to(writer, checkpoint)
        item_bytes += checkpoint.item_bytes
    if run.lake_format == 2 and writer.schema is None:  # no part at all
        writer.schema = unit_schema(io, run.table, _schema_id(io, run)) or \
            empty_schema(run.table, run.keys)
    arn = run.table_description.get("TableArn")
    region, account = _arn_fields(arn)
    source = Source(run.table, "scan", table_arn=arn, region=region, account=account,
                    segments=run.segments, consistent_read=run.consistent_read)
    return writer.commit(source=source,
                         consistency=Consistency("fuzzy", run.started_at, utc_now()),
                         table_description=run.table_description, item_bytes=item_bytes,
                         extra={"scan": {"segments": run.segments}})
