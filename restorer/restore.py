"""``restore``: selection -> target table -> batch writer -> journal -> verification.

::

    result = restore(RestoreConfig(lake="./lake", table="users", target="users-restored"))

Raises :class:`RestoreIncomplete` (exit code 9) when items are left in dead-letter files or
the verification finds a difference; ``result`` is attached to it. Before any of this, the
parts the selection reads are fetched and checked against their manifests
(:func:`restorer.select.resolve_source`): a damaged part is CorruptDataError (exit 4), a
deleted one MissingDataError (exit 5), and nothing is written. Then every selected item is
checked against the hash the backup recorded for it while it is spooled
(:mod:`restorer.itemcheck`): a damaged item is DamagedItems (exit 4) naming it, and nothing
is written either (no journal, no target table).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from lake import catalog, layout
from lake.aws import make_client, make_session
from lake.fileio import FileIO, load_file_io
from lake.joblock import JobLock
from lake.progress import NullListener, ProgressListener
from restorer.config import RestoreConfig, RestoreIncomplete, RestoreResult, Verification
from restorer.itemcheck import DamagedItems, Tally, locate
from restorer.journal import Journal, find_resumable, lock_restore
from restorer.select import Query, Source, resolve_source
from restorer.spool import Spool, read_unit, stage, unit_count, unstage
from restorer.target import check_key_schema, create_target, describe, wait_active
from restorer.units import WORKER_MODULES, UnitContext, UnitTask, restore_unit
from restorer.verify import expected_digest, verify_by_key, verify_new
from runtime.capacity import Budgets
from runtime.executor import make_executor
from runtime.processes import prestart
from schemas.errors import NotFoundError, UsageError
from schemas.keys import KeySchema


@dataclass
class _Run:
    config: RestoreConfig
    io: FileIO
    ddb: Any
    listener: ProgressListener
    source: Source
    journal: Journal
    lock: JobLock
    resumed: int = 0
    nodes: dict[str, int] = field(default_factory=dict)


def restore(config: RestoreConfig, *, session: Any = None,
            listener: ProgressListener | None = None) -> RestoreResult:
    """Restore the selected items of a lake snapshot into a DynamoDB table."""
    started = time.monotonic()
    if config.engine == "local" and (config.workers or 1) > 1:  # imports while counting
        prestart(WORKER_MODULES)
    listener = listener or NullListener()
    session = session or make_session(config.profile, config.region)
    io = load_file_io(config.lake, session=session)
    ddb = make_client("dynamodb", session)
    source_table = catalog.single_table(io, config.table)
    previous, lock = _previous(io, config, source_table, listener)
    try:
        windowed = config.as_of or config.deleted_between or config.changed_between
        if previous is not None and not windowed:  # `latest` may have moved on since
            config = replace(config, snapshot=previous.snapshot_id or config.snapshot,
                             table=source_table)
        source = resolve_source(io, config, listener=listener)  # verified local parts
        with contextlib.closing(source), contextlib.closing(Query(source, config)) as query:
            selected, fingerprint = query.count()
            _warn_unmatched(config, query, listener)
            if config.dry_run:
                return _dry_run(config, source, query, selected, started)
            journal = previous or _new_journal(config, source, selected, fingerprint)
            _check_resume(journal, selected, fingerprint)
            with contextlib.closing(Spool(journal.units)) as spool:
                _fill(spool, query, config, source, selected)  # every item checked first
                lock = lock or lock_restore(io, journal)  # a new restore: no one else has it
                journal.runs += 1
                run = _Run(config, io, ddb, listener, source, journal, lock)
                _save(run)
                _prepare_target(run)
                result = replace(_write_all(run, spool, started),
                                 keys_unmatched=_unmatched(query))
    finally:
        if lock is not None:
            lock.release()
    if not result.ok:
        raise RestoreIncomplete(_failure_text(result), result, hint=_failure_hint(result))
    return result


def _previous(io: FileIO, config: RestoreConfig, source_table: str,
              listener: ProgressListener) -> tuple[Journal | None, JobLock | None]:
    """With --resume, the restore to resume, locked (a dry run only reads it) and read
    again under its lock."""
    previous = find_resumable(io, source_table, config.target) if config.resume else None
    if config.resume and previous is None:
        listener.message(f"no earlier restore into {config.target}; starting a new one")
    if previous is None or config.dry_run:
        return previous, None
    lock = lock_restore(io, previous)
    try:
        return previous.reload(io), lock
    except BaseException:
        lock.release()
        raise


def _save(run: _Run) -> None:
    run.lock.check()  # an S3 lease lost: another run may own the journal now
    run.journal.save(run.io)


def _unmatched(query: Query) -> int | None:
    """How many distinct keys of the keys file matched no item (None without one)."""
    if query.keys_given is None or query.keys_matched is None:
        return None
    return query.keys_given - query.keys_matched


def _warn_unmatched(config: RestoreConfig, query: Query, listener: ProgressListener) -> None:
    unmatched = _unmatched(query)
    if unmatched:
        listener.message(f"warning: {unmatched} of {query.keys_given} keys in "
                         f"{config.keys_file} matched no item of the selection")


def _new_journal(config: RestoreConfig, source: Source, selected: int,
                 fingerprint: str) -> Journal:
    request = {"snapshot": config.snapshot, "as_of": config.as_of,
               "deleted_between": config.deleted_between,
               "changed_between": config.changed_between,
               "where": config.where, "keys_file": config.keys_file, "mode": config.mode,
               "existing": config.existing, "skip_expired": config.skip_expired,
               "now": time.time()}
    return Journal(layout.new_id(), source.manifest.table, source.manifest.snapshot_id,
                   config.target, request, selected, fingerprint,
                   unit_count(selected, config.unit_rows))


def _check_resume(journal: Journal, selected: int, fingerprint: str) -> None:
    if (journal.selected, journal.fingerprint) != (selected, fingerprint):
        raise UsageError(f"the selection now holds {selected} items, the interrupted restore "
                         f"{journal.restore_id} selected {journal.selected}; not resuming",
                         hint="re-run with the same --where/--keys as before, or start a new "
                              "restore without --resume")


def _dry_run(config: RestoreConfig, source: Source, query: Query, selected: int,
             started: float) -> RestoreResult:
    """What a restore would write; every selected item is checked against its recorded hash
    as a restore would (one more pass over the selection), DamagedItems otherwise."""
    tally = Tally(source.manifest.key_schema)
    for batch in query.batches(1):
        tally.add(batch)
    _refuse_damaged(tally, config, source)
    return RestoreResult("(dry run)", source.manifest.table, source.manifest.snapshot_id,
                         config.target, _label(config, source), False, selected,
                         dry_run=True, sample=tuple(query.sample(config.sample)),
                         seconds=time.monotonic() - started, keys_unmatched=_unmatched(query))


def _label(config: RestoreConfig, source: Source) -> str:
    parts = [source.label]
    if config.keys_file:
        parts.append(f"keys from {config.keys_file}")
    if config.where:
        parts.append(f"where {config.where}")
    return ", ".join(parts)


def _prepare_target(run: _Run) -> None:
    """Create the new table or check the existing one, before any item is written."""
    config, journal, keys = run.config, run.journal, run.source.manifest.key_schema
    found = describe(run.ddb, config.target)
    if found is None and journal.created_table and not journal.table_ready:
        journal.created_table = False  # the run that meant to create it died first
    if journal.table_ready or config.existing or journal.created_table:
        if found is None:
            raise NotFoundError(f"table {config.target} does not exist",
                                hint="leave out --existing to create it from the snapshot")
        check_key_schema(found, keys)
        if journal.created_table:
            wait_active(run.ddb, config.target)
    else:
        journal.created_table = True
        _save(run)
        for note in create_target(run.ddb, run.source.manifest.table_description, config):
            run.listener.message(f"{config.target}: {note}")
    journal.table_ready = True
    _save(run)


def _ttl_attribute(config: RestoreConfig, source: Source) -> str | None:
    """The TTL attribute when expired items are skipped."""
    ttl = source.manifest.table_description.get("TimeToLive") or {}
    name = ttl.get("AttributeName") if config.skip_expired else None
    return str(name) if name else None


def _context(run: _Run, spool: Spool) -> UnitContext:
    return UnitContext(run.config, run.journal.source_table, run.journal.restore_id,
                       run.source.manifest.key_schema.to_dict(),
                       _ttl_attribute(run.config, run.source), str(spool.root),
                       float(run.journal.request["now"]), staged=run.config.engine != "local")


def _fill(spool: Spool, query: Query, config: RestoreConfig, source: Source,
          selected: int) -> None:
    """Spool the selection, checking every item against its recorded hash on the way
    (:mod:`restorer.itemcheck`): DamagedItems before the target is touched."""
    tally = Tally(source.manifest.key_schema)
    spooled = spool.fill(query, ttl_attribute=_ttl_attribute(config, source),
                         inspect=tally.add)
    _refuse_damaged(tally, config, source)
    if spooled != selected:
        raise UsageError(f"the selection changed while it was read ({spooled} rows, "
                         f"{selected} counted)", hint="run the restore again")


def _refuse_damaged(tally: Tally, config: RestoreConfig, source: Source) -> None:
    if not tally.count:
        return
    lake = source.lake
    parts = [(p, lake.lake_uri(p) if lake is not None else p) for p in source.selection.paths]
    raise DamagedItems(source.manifest.table, source.label, locate(tally, parts),
                       lake=config.lake)


def _write_all(run: _Run, spool: Spool, started: float) -> RestoreResult:
    journal = run.journal
    todo = [u for u in range(journal.units) if not journal.finished(u)]
    run.resumed = journal.units - len(todo)
    run.listener.started("restore", journal.selected, "items")
    _run_units(run, _context(run, spool), spool, todo)
    run.listener.finished("restore")
    dead = sum(r.dead for r in journal.done.values())
    journal.status = "complete" if dead == 0 else "incomplete"
    _save(run)
    verification = _verify(run, spool) if run.config.verify else None
    return _result(run, verification, started)


def _run_units(run: _Run, context: UnitContext, spool: Spool, todo: list[int]) -> None:
    """Write the units not done yet, on the run's engine, journalling each as it ends.
    Units on another engine than local processes read their rows staged in the lake."""
    journal, engine = run.journal, run.config.engine
    workers = run.config.workers if len(todo) > 1 else 1
    executor = make_executor(engine, workers or (1 if engine == "local" else None))
    if context.staged:
        stage(spool, run.io, journal.source_table, journal.restore_id, todo)
    try:
        for unit, record in executor.map(restore_unit, [UnitTask(context, u) for u in todo],
                                         budgets=Budgets(write=run.config.max_wcu),
                                         preload=WORKER_MODULES,
                                         seeds={"ddb": run.ddb, "lake": run.io}):
            journal.done[unit] = replace(record, run=journal.runs)
            _save(run)
            run.listener.advanced("restore", record.items)
    finally:
        if context.staged:
            unstage(run.io, journal.source_table, journal.restore_id)
    run.nodes = dict(executor.nodes)


def _verify(run: _Run, spool: Spool) -> Verification:
    run.listener.message(f"verifying {run.config.target}")
    keys = run.source.manifest.key_schema
    if run.journal.created_table and run.config.mode == "put":
        expected = expected_digest(_written_texts(run, spool, keys))
        return verify_new(run.ddb, run.config.target, expected)
    return verify_by_key(run.ddb, run.config.target, keys, _written_texts(run, spool, keys),
                         run.config.mode)


def _written_texts(run: _Run, spool: Spool, keys: KeySchema) -> Iterator[bytes]:
    """The spooled items minus dead letters and skipped (expired) items."""
    import orjson

    from restorer.writer import _expired

    ctx = _context(run, spool)
    for unit in range(run.journal.units):
        dead: set[bytes] = set()
        if run.journal.done[unit].dead:
            key = layout.restore_dead_letter(run.journal.source_table, run.journal.restore_id,
                                             unit)
            dead = {orjson.dumps(orjson.loads(line)["item"])
                    for line in run.io.read(key).splitlines() if line}
        for text in read_unit(spool.path(unit)):
            if dead and orjson.dumps(orjson.loads(text)) in dead:
                continue
            if ctx.ttl_attribute and _expired(orjson.loads(text), ctx.ttl_attribute, ctx.now):
                continue
            yield text


def _result(run: _Run, verification: Verification | None, started: float) -> RestoreResult:
    journal, records = run.journal, list(run.journal.done.values())
    dead = sum(r.dead for r in records)
    ours = [r for r in records if r.run == journal.runs]
    return RestoreResult(
        journal.restore_id, journal.source_table, journal.snapshot_id, journal.target,
        _label(run.config, run.source), journal.created_table, journal.selected,
        written=sum(r.written for r in ours),
        written_earlier=sum(r.written for r in records if r.run != journal.runs)
        + sum(r.already_written for r in records),
        skipped_existing=sum(r.skipped_existing for r in records),
        skipped_expired=sum(r.skipped_expired for r in records), dead_letters=dead,
        dead_letter_uri=run.io.full_uri(layout.restore_dead_letter_prefix(
            journal.source_table, journal.restore_id)) if dead else None,
        units=journal.units, units_resumed=run.resumed,
        requests=sum(r.requests for r in records),
        retry_rounds=sum(r.retry_rounds for r in records),
        seconds=time.monotonic() - started, verification=verification,
        engine=run.config.engine, units_per_node=run.nodes)


def _failure_text(result: RestoreResult) -> str:
    if result.dead_letters:
        return (f"{result.dead_letters} of {result.selected} items could not be written to "
                f"{result.target}; they are in {result.dead_letter_uri}")
    return f"verification of {result.target} found a difference"


def _failure_hint(result: RestoreResult) -> str:
    if result.dead_letters:
        return ("fix the cause (throttling: lower --max-wcu or raise the table's capacity; "
                "invalid items: see the error of each line), then re-run with --resume")
    return "inspect the table; re-run the restore with --resume to write the items again"
