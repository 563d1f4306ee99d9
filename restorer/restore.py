"""``restore``: selection -> target table -> batch writer -> journal -> verification.

::

    result = restore(RestoreConfig(lake="./lake", table="users", target="users-restored"))

Raises :class:`RestoreIncomplete` (exit code 9) when items are left in dead-letter files or
the verification finds a difference; ``result`` is attached to it. Before any of this, the
parts the selection reads are fetched and checked against their manifests
(:func:`restorer.select.resolve_source`): a damaged part is CorruptDataError (exit 4), a
deleted one MissingDataError (exit 5), and nothing is written.

Who selects: with ``--engine local`` the driver selects, counts and spools once and local
worker processes write the spool's units (one pass over the parts); on Ray (no shared disk)
each unit selects its own rows from its parts of the lake, in a count pass before any write
and again to write and to verify (:mod:`restorer.slices`). The write code is the same
(:func:`restorer.units.write_unit`). Measured and argued in docs/decisions/006.

Every selected item is checked against the hash the backup recorded for it
(:mod:`restorer.itemcheck`). With ``--engine local`` the driver checks while it spools: a
damaged item is DamagedItems (exit 4) naming it, and nothing is written (no journal, no
target table); ``--dry-run`` checks the same way. Every unit checks the rows it receives
again before writing them, on every engine: on Ray, where the driver does not read the rows,
a damaged item fails its unit (exit 4) and is never written, while other units may have
written theirs (the journal says which; ``--resume`` checks again).
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
from restorer.keysfile import load_keys
from restorer.select import Query, Source, plan_selection, resolve_source, windowed
from restorer.slices import (
    BY_KEY_HASH,
    BY_PART,
    Selecting,
    Slice,
    SliceTask,
    VerifyJob,
    count_unit,
    merge,
    plan_slices,
    verify_unit,
    written_texts,
)
from restorer.spool import Spool, unit_count
from restorer.target import check_key_schema, create_target, describe, wait_active
from restorer.units import WORKER_MODULES, UnitContext, UnitTask, restore_unit
from restorer.verify import expected_digest, verify_by_key, verify_new
from runtime.capacity import Budgets
from runtime.executor import Executor, make_executor
from runtime.processes import prestart
from schemas.errors import NotFoundError, UsageError
from schemas.manifest import Manifest


@dataclass
class _Selected:
    """The selection, counted: by the driver (its ``query`` then fills the spool), or by
    the units that select their own rows (``slices``, :mod:`restorer.slices`)."""

    manifest: Manifest
    label: str
    selected: int
    fingerprint: str
    keys_given: int | None
    keys_matched: int | None
    sample: tuple[str, ...]
    units_by: str
    query: Query | None = None
    spool: Spool | None = None  # the driver's selection, spooled and checked
    slices: list[Slice] | None = None
    selecting: Selecting | None = None
    rows_of: dict[int, int] = field(default_factory=dict)  # each unit's count

    @property
    def unmatched(self) -> int | None:
        """How many distinct keys of the keys file matched no item (None without one)."""
        if self.keys_given is None or self.keys_matched is None:
            return None
        return self.keys_given - self.keys_matched


@dataclass
class _Run:
    config: RestoreConfig
    io: FileIO
    ddb: Any
    listener: ProgressListener
    source: _Selected
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
        if previous is not None and not windowed(config):  # `latest` may have moved on
            config = replace(config, snapshot=previous.snapshot_id or config.snapshot,
                             table=source_table)
        with _selection(io, config, previous, listener) as source:
            _warn_unmatched(config, source, listener)
            if config.dry_run:
                return _dry_run(config, source, started)
            journal = previous or _new_journal(config, source)
            lock = lock or lock_restore(io, journal)  # a new restore: no one else has it
            _check_resume(journal, source.selected, source.fingerprint)
            journal.runs += 1
            run = _Run(config, io, ddb, listener, source, journal, lock)
            _save(run)
            _prepare_target(run)
            result = replace(_write_all(run, started), keys_unmatched=source.unmatched)
    finally:
        if lock is not None:
            lock.release()
    if not result.ok:
        raise RestoreIncomplete(_failure_text(result), result, hint=_failure_hint(result))
    return result


def units_select(config: RestoreConfig, previous: Journal | None) -> bool:
    """Whether units select their own rows: on Ray (no spool on a cluster), and to resume a
    restore whose units were cut by part. Local processes keep the driver's spool: one pass
    over the parts instead of one per unit and pass (docs/decisions/006)."""
    by = previous.request.get("units_by", BY_KEY_HASH) if previous else None
    return config.engine != "local" or by == BY_PART


@contextlib.contextmanager
def _selection(io: FileIO, config: RestoreConfig, previous: Journal | None,
               listener: ProgressListener) -> Iterator[_Selected]:
    if units_select(config, previous):
        yield _count_in_units(io, config, previous)
        return
    source = resolve_source(io, config, listener=listener)  # verified local parts
    with contextlib.closing(source), contextlib.closing(Query(source, config)) as query:
        selected, fingerprint = query.count()
        sample = tuple(query.sample(config.sample)) if config.dry_run else ()
        counted = _Selected(source.manifest, source.label, selected, fingerprint,
                            query.keys_given, query.keys_matched, sample, BY_KEY_HASH,
                            query=query)
        if config.dry_run:  # the same check, without writing the spool
            tally = Tally(source.manifest.key_schema)
            for batch in query.batches(1):
                tally.add(batch)
            _refuse_damaged(tally, config, source)
            yield counted
            return
        units = previous.units if previous else unit_count(selected, config.unit_rows)
        with contextlib.closing(Spool(units)) as spool:
            _fill(spool, query, config, source, selected)  # every item checked first
            yield replace(counted, spool=spool)


def _fill(spool: Spool, query: Query, config: RestoreConfig, source: Source,
          selected: int) -> None:
    """Spool the selection, checking every item against its recorded hash on the way
    (:mod:`restorer.itemcheck`): DamagedItems before the target is touched. A dry run
    checks the same rows."""
    tally = Tally(source.manifest.key_schema)
    spooled = spool.fill(query, ttl_attribute=_ttl_of(source.manifest, config),
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


def _count_in_units(io: FileIO, config: RestoreConfig, previous: Journal | None) -> _Selected:
    """Plan from manifests, then count on the engine: each unit selects its own rows."""
    planned = plan_selection(io, config)
    if not windowed(config):  # every unit reads the snapshot planned, even if `latest` moves
        config = replace(config, snapshot=planned.manifest.snapshot_id,
                         table=planned.manifest.table)
    by = previous.request.get("units_by", BY_KEY_HASH) if previous else \
        BY_KEY_HASH if windowed(config) else BY_PART
    unit_rows = int(previous.request.get("unit_rows", config.unit_rows)) if previous \
        else config.unit_rows
    slices = plan_slices(planned, by, unit_rows,
                         previous.units if previous and by == BY_KEY_HASH else None)
    if previous is not None and len(slices) != previous.units:
        raise UsageError(f"the restore {previous.restore_id} had {previous.units} units, its "
                         f"parts now make {len(slices)}; not resuming",
                         hint="start a new restore without --resume")
    keys = planned.manifest.key_schema
    wanted = load_keys(config.keys_file, keys) if config.keys_file else None
    ttl = _ttl_of(planned.manifest, config)
    selecting = Selecting(config, wanted, ttl)
    tasks = [SliceTask(selecting, s, sample=config.sample if config.dry_run else 0)
             for s in slices]
    counted = sorted(_engine(config, len(tasks)).map(
        count_unit, tasks, preload=WORKER_MODULES, seeds={"lake": io}),
        key=lambda c: c.unit)
    sample = tuple(t for c in counted for t in c.sample)[:config.sample]
    return _Selected(planned.manifest, planned.label, sum(c.rows for c in counted),
                     str(sum(c.hash_sum for c in counted)),
                     None if wanted is None else int(wanted.num_rows),
                     None if wanted is None else sum(c.keys_matched for c in counted),
                     sample, by, slices=slices, selecting=selecting,
                     rows_of={c.unit: c.rows for c in counted})


def _engine(config: RestoreConfig, units: int) -> Executor:
    workers = config.workers if units > 1 else 1
    return make_executor(config.engine, workers or (1 if config.engine == "local" else None))


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


def _warn_unmatched(config: RestoreConfig, source: _Selected,
                    listener: ProgressListener) -> None:
    if source.unmatched:
        listener.message(f"warning: {source.unmatched} of {source.keys_given} keys in "
                         f"{config.keys_file} matched no item of the selection")


def _new_journal(config: RestoreConfig, source: _Selected) -> Journal:
    request = {"snapshot": config.snapshot, "as_of": config.as_of,
               "deleted_between": config.deleted_between,
               "changed_between": config.changed_between,
               "where": config.where, "keys_file": config.keys_file, "mode": config.mode,
               "existing": config.existing, "skip_expired": config.skip_expired,
               "now": time.time(), "units_by": source.units_by,
               "unit_rows": config.unit_rows}
    units = len(source.slices) if source.slices is not None else \
        unit_count(source.selected, config.unit_rows)
    return Journal(layout.new_id(), source.manifest.table, source.manifest.snapshot_id,
                   config.target, request, source.selected, source.fingerprint, units)


def _check_resume(journal: Journal, selected: int, fingerprint: str) -> None:
    if (journal.selected, journal.fingerprint) != (selected, fingerprint):
        raise UsageError(f"the selection now holds {selected} items, the interrupted restore "
                         f"{journal.restore_id} selected {journal.selected}; not resuming",
                         hint="re-run with the same --where/--keys as before, or start a new "
                              "restore without --resume")


def _dry_run(config: RestoreConfig, source: _Selected, started: float) -> RestoreResult:
    return RestoreResult("(dry run)", source.manifest.table, source.manifest.snapshot_id,
                         config.target, _label(config, source), False, source.selected,
                         dry_run=True, sample=source.sample,
                         seconds=time.monotonic() - started, keys_unmatched=source.unmatched)


def _label(config: RestoreConfig, source: _Selected) -> str:
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


def _ttl_of(manifest: Manifest, config: RestoreConfig) -> str | None:
    """The TTL attribute when expired items are skipped."""
    ttl = manifest.table_description.get("TimeToLive") or {}
    name = ttl.get("AttributeName") if config.skip_expired else None
    return str(name) if name else None


def _ttl_attribute(run: _Run) -> str | None:
    return _ttl_of(run.source.manifest, run.config)


def _context(run: _Run, spool: Spool | None) -> UnitContext:
    return UnitContext(run.config if run.source.selecting is None
                       else run.source.selecting.config,
                       run.journal.source_table, run.journal.restore_id,
                       run.source.manifest.key_schema.to_dict(), _ttl_attribute(run),
                       "" if spool is None else str(spool.root),
                       float(run.journal.request["now"]),
                       wanted=None if run.source.selecting is None
                       else run.source.selecting.wanted)


def _write_all(run: _Run, started: float) -> RestoreResult:
    journal, spool = run.journal, run.source.spool
    todo = [u for u in range(journal.units) if not journal.finished(u)]
    run.resumed = journal.units - len(todo)
    run.listener.started("restore", journal.selected, "items")
    _run_units(run, _context(run, spool), todo)
    run.listener.finished("restore")
    dead = sum(r.dead for r in journal.done.values())
    journal.status = "complete" if dead == 0 else "incomplete"
    _save(run)
    verification = _verify(run, spool) if run.config.verify else None
    return _result(run, verification, started)


def _run_units(run: _Run, context: UnitContext, todo: list[int]) -> None:
    """Write the units not done yet, on the run's engine, journalling each as it ends."""
    journal, slices = run.journal, run.source.slices
    executor = _engine(run.config, len(todo))
    tasks = [UnitTask(context, u, None if slices is None else slices[u]) for u in todo]
    for unit, record in executor.map(restore_unit, tasks,
                                     budgets=Budgets(write=run.config.max_wcu),
                                     preload=WORKER_MODULES,
                                     seeds={"ddb": run.ddb, "lake": run.io}):
        if slices is not None and record.items != run.source.rows_of[unit]:
            raise UsageError(f"unit {unit} selected {record.items} rows to write, "
                             f"{run.source.rows_of[unit]} when counted",
                             hint="run the restore again with --resume")
        journal.done[unit] = replace(record, run=journal.runs)
        _save(run)
        run.listener.advanced("restore", record.items)
    run.nodes = dict(executor.nodes)


def _verify(run: _Run, spool: Spool | None) -> Verification:
    run.listener.message(f"verifying {run.config.target}")
    keys = run.source.manifest.key_schema
    job = VerifyJob(run.journal.source_table, run.journal.restore_id, keys.to_dict(),
                    float(run.journal.request["now"]),
                    frozenset(u for u, r in run.journal.done.items() if r.dead),
                    scan=run.journal.created_table and run.config.mode == "put")
    if spool is None:
        return _verify_in_units(run, job)
    texts = (text for unit in range(run.journal.units)
             for text in written_texts(run.io, job, unit, spool.path(unit),
                                       _ttl_attribute(run)))
    if job.scan:
        return verify_new(run.ddb, run.config.target, expected_digest(texts))
    return verify_by_key(run.ddb, run.config.target, keys, texts, run.config.mode)


def _verify_in_units(run: _Run, job: VerifyJob) -> Verification:
    """Each unit selects its rows again and checks its share (:func:`verify_unit`)."""
    selecting, slices = run.source.selecting, run.source.slices
    assert selecting is not None and slices is not None
    shares = list(_engine(run.config, len(slices)).map(
        verify_unit, [SliceTask(selecting, s, verify=job) for s in slices],
        preload=WORKER_MODULES, seeds={"ddb": run.ddb, "lake": run.io}))
    expected, found, missing, different = merge(shares)
    if job.scan:
        return verify_new(run.ddb, run.config.target, expected)
    return Verification("batch-get", expected.count, found.count, expected.hex(),
                        found.hex(), missing=missing, different=different)


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
