"""Units of work: writing one unit's rows, on any executor (:mod:`runtime`).

A unit is independent and serializable (:class:`UnitTask`: the :class:`UnitContext`, a
unit number and, for a unit that selects its own rows, its :class:`restorer.slices.Slice`)
and builds its own clients once per worker; the WCU budget is one bucket shared by every
worker of the run. A unit's rows come from one file in the spool's format: the driver's
spool (``--engine local``), or a private file the unit fills itself from its parts of the
lake (:mod:`restorer.slices`; ``--engine ray``). Either way the same code writes them, and
the rows it receives carry ``_item_hash`` and are checked (:func:`restorer.itemcheck.intact`)
before they become write requests: a batch holding an item that differs from its recorded
hash is not written, and the unit fails (exit 4).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from lake import layout
from lake.aws import make_client, make_session
from lake.fileio import FileIO, load_file_io
from restorer.config import RestoreConfig
from restorer.itemcheck import intact
from restorer.journal import UnitRecord
from restorer.origin import unit_origins
from restorer.rawhttp import hooked, raw_writer
from restorer.rows import unit_rows
from restorer.slices import WORKER_MODULES as SLICE_MODULES
from restorer.slices import Selecting, Slice, select_rows
from restorer.spool import read_unit_batches, unit_path
from restorer.transport import fast_writer
from restorer.writer import BatchWriter, Outcome, Sleep
from runtime.capacity import Limiter
from runtime.executor import Kit
from schemas.errors import DdbLakeError
from schemas.keys import KeySchema


class RestoreCancelled(DdbLakeError):
    """The restore was stopped between batches; finished units are in the journal."""

    exit_code = 130


@dataclass(frozen=True)
class UnitContext:
    config: RestoreConfig
    source_table: str
    restore_id: str
    keys: dict[str, Any]
    ttl_attribute: str | None
    spool_root: str
    now: float
    wanted: Any = None  # the keys file's keys (Arrow), for units that select their own rows

    def spool_path(self, unit: int) -> Path:
        return unit_path(Path(self.spool_root), unit)


def dead_letter_lines(dead: list[tuple[bytes, str]]) -> bytes:
    return b"".join(b'{"error":' + orjson.dumps(reason) + b',"item":' + text + b"}\n"
                    for text, reason in dead)


def write_unit(ctx: UnitContext, unit: int, *, client: Any, io: FileIO,
               budget: Limiter | None = None, sleep: Sleep = time.sleep,
               stop: Callable[[], None] | None = None) -> UnitRecord:
    config = ctx.config
    sender = fast_writer(client) if config.transport == "botocore" or hooked(client) \
        else raw_writer(client)
    keys = KeySchema.from_dict(ctx.keys)
    writer = BatchWriter(sender, config.target, keys,
                         mode=config.mode, policy=config.retry, budget=budget,
                         threads=config.threads, ttl_attribute=ctx.ttl_attribute, now=ctx.now,
                         sleep=sleep, rng=random.Random(),
                         origins=unit_origins(ctx, unit, client=client, io=io, sleep=sleep))
    ttl = (ctx.ttl_attribute, ctx.now) if ctx.ttl_attribute else None
    batches = read_unit_batches(ctx.spool_path(unit))
    received = intact(_checked(batches, stop), keys, table=ctx.source_table, lake=config.lake,
                      source=f"unit {unit} of restore {ctx.restore_id}")
    rows = unit_rows(received, keys, ttl=ttl, need_size=budget is not None)
    out: Outcome = writer.write(rows)
    key = layout.restore_dead_letter(ctx.source_table, ctx.restore_id, unit)
    if out.dead:
        io.write(key, dead_letter_lines(out.dead))
    elif io.exists(key):
        io.delete(key)
    return UnitRecord(out.written, out.skipped_existing, out.skipped_expired, len(out.dead),
                      out.requests, out.retry_rounds, already_written=out.already_written)


WORKER_MODULES = ("restorer.units", *SLICE_MODULES)


@dataclass(frozen=True)
class UnitTask:
    context: UnitContext
    unit: int
    slice: Slice | None = None  # select the unit's own rows from these parts of the lake

    def selecting(self) -> Selecting:
        ctx = self.context
        return Selecting(ctx.config, ctx.wanted, ctx.ttl_attribute)


def restore_unit(task: UnitTask, kit: Kit) -> tuple[int, UnitRecord]:
    """The restore's unit on any executor: clients from the worker's cache (a serial run finds
    the driver's own), the write budget shared by every worker of the run."""
    config = task.context.config

    def session() -> Any:
        return kit.cached("session", lambda: make_session(config.profile, config.region))

    client = kit.cached("ddb", lambda: make_client("dynamodb", session()))
    io = kit.cached("lake", lambda: load_file_io(config.lake, session=session()))
    if task.slice is None:
        return task.unit, write_unit(task.context, task.unit, client=client, io=io,
                                     budget=kit.write, stop=_until_stopped(kit))
    with tempfile.TemporaryDirectory(prefix="ddblake-unit-") as folder:
        select_rows(io, task.selecting(), task.slice, Path(folder))
        context = replace(task.context, spool_root=folder)
        return task.unit, write_unit(context, task.unit, client=client, io=io,
                                     budget=kit.write, stop=_until_stopped(kit))


def _until_stopped(kit: Kit) -> Callable[[], None]:
    def check() -> None:
        if kit.stopped():
            raise RestoreCancelled("the restore was stopped (Ctrl-C, or another unit failed)",
                                   hint="re-run with --resume to continue")
    return check


def _checked(batches: Iterable[Any], stop: Callable[[], None] | None) -> Iterable[Any]:
    for batch in batches:
        if stop is not None:
            stop()
        yield batch
