"""Units of work: writing one spooled unit, in this process or in worker processes.

A unit is independent and serializable (:class:`UnitContext` + a unit number), so it can
run in a thread, a worker process, or later another machine. Worker processes are started
from a fork server that imported this module once (:mod:`lake.processes`; spawned where
fork is unsafe) and build their own clients; the WCU budget is split evenly between them.
"""

from __future__ import annotations

import gc
import os
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from lake import layout
from lake.aws import make_client, make_session
from lake.fileio import FileIO, load_file_io
from lake.processes import adopt, worker_context
from restorer.config import RestoreConfig
from restorer.journal import UnitRecord
from restorer.origin import unit_origins
from restorer.rawhttp import hooked, raw_writer
from restorer.rows import unit_rows
from restorer.spool import read_unit_batches, unit_path
from restorer.transport import fast_writer
from restorer.writer import BatchWriter, Outcome, Sleep, WcuBudget
from schemas.keys import KeySchema


@dataclass(frozen=True)
class UnitContext:
    config: RestoreConfig
    source_table: str
    restore_id: str
    keys: dict[str, Any]
    ttl_attribute: str | None
    spool_root: str
    now: float

    def spool_path(self, unit: int) -> Path:
        return unit_path(Path(self.spool_root), unit)


def dead_letter_lines(dead: list[tuple[bytes, str]]) -> bytes:
    return b"".join(b'{"error":' + orjson.dumps(reason) + b',"item":' + text + b"}\n"
                    for text, reason in dead)


def write_unit(ctx: UnitContext, unit: int, *, client: Any, io: FileIO,
               budget: WcuBudget | None = None, sleep: Sleep = time.sleep) -> UnitRecord:
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
    rows = unit_rows(read_unit_batches(ctx.spool_path(unit)), keys, ttl=ttl,
                     need_size=budget is not None)
    out: Outcome = writer.write(rows)
    key = layout.restore_dead_letter(ctx.source_table, ctx.restore_id, unit)
    if out.dead:
        io.write(key, dead_letter_lines(out.dead))
    elif io.exists(key):
        io.delete(key)
    return UnitRecord(out.written, out.skipped_existing, out.skipped_expired, len(out.dead),
                      out.requests, out.retry_rounds, already_written=out.already_written)


_WORKER: dict[str, Any] = {}


WORKER_MODULES = ("restorer.units",)


def _init_worker(ctx: UnitContext, environ: dict[str, str]) -> None:
    adopt(environ)  # a fork server keeps the environment it started with
    config = ctx.config
    session = make_session(config.profile, config.region)
    _WORKER["client"] = make_client("dynamodb", session)
    _WORKER["io"] = load_file_io(config.lake, session=session)
    share = config.max_wcu / config.workers if config.max_wcu else None
    _WORKER["budget"] = WcuBudget(share) if share else None
    gc.freeze()  # keep boto3's service models and modules out of every collection


def _run_in_worker(ctx: UnitContext, unit: int) -> tuple[int, UnitRecord]:
    return unit, write_unit(ctx, unit, client=_WORKER["client"], io=_WORKER["io"],
                            budget=_WORKER["budget"])


def run_units(ctx: UnitContext, units: list[int], *, client: Any, io: FileIO,
              sleep: Sleep = time.sleep) -> Iterator[tuple[int, UnitRecord]]:
    """Write ``units``, yielding each as it finishes (in this process when one worker)."""
    config = ctx.config
    if config.workers == 1 or len(units) <= 1:
        budget = WcuBudget(config.max_wcu) if config.max_wcu else None
        for unit in units:
            yield unit, write_unit(ctx, unit, client=client, io=io, budget=budget, sleep=sleep)
        return
    context = worker_context(WORKER_MODULES)
    with ProcessPoolExecutor(config.workers, mp_context=context, initializer=_init_worker,
                             initargs=(ctx, dict(os.environ))) as pool:
        yield from _bounded(pool.submit, ctx, units, 2 * config.workers)


def _bounded(submit: Callable[..., Future[tuple[int, UnitRecord]]], ctx: UnitContext,
             units: list[int], limit: int) -> Iterator[tuple[int, UnitRecord]]:
    pending: set[Future[tuple[int, UnitRecord]]] = set()
    queue = list(units)
    while queue or pending:
        while queue and len(pending) < limit:
            pending.add(submit(_run_in_worker, ctx, queue.pop(0)))
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield future.result()
