"""Runs independent per-file tasks on worker processes, bounded and cancellable.

At most ``2 * workers`` tasks are in flight (a producer never queues without limit); the
first failure cancels what has not started and is re-raised in the parent with its hint
(a DdbLakeError does not survive pickling on its own). ``workers <= 1`` runs the tasks in
this process (tests, in-process moto, tiny exports). Workers come from a fork server that
imported the task function's module once (:mod:`lake.processes`; spawned where fork is
unsafe), ``gc.freeze()`` what they imported and give Arrow the system allocator.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from lake.processes import adopt, lean_memory, worker_context
from schemas.errors import DdbLakeError, PortableError

# What the fork server imports for the workers (lake.arrow_warmup: pyarrow's pandas shim).
WORKER_MODULES = ("exporter.file_pool", "exporter.native", "exporter.incremental",
                  "lake.arrow_warmup")
T = TypeVar("T")
R = TypeVar("R")


def _init_worker(environ: dict[str, str]) -> None:
    """Take the parent's environment of this run and Arrow's system allocator
    (:func:`lake.processes.adopt`; measured here too: ~90 MB less peak RSS per worker at
    32 MB parts, same CPU), and freeze what the worker imported (the collector skips it)."""
    adopt(environ)
    gc.freeze()


def _guarded(fn: Callable[[T], R], task: T) -> R | PortableError:
    try:
        return fn(task)
    except DdbLakeError as e:
        return PortableError.of(e)


def plan(tasks: Sequence[T], weight: Callable[[T], int], workers: int) -> tuple[list[T], int]:
    """The tasks heaviest first, and how many worker processes are worth starting.

    Heaviest first, so the last task to start is a short one and workers finish together
    (with one big file among small ones, starting it last would leave the others idle).
    Workers: at most ``workers``, no more than the tasks that weigh anything (empty export
    partitions cost next to nothing) and at least 1; 1 means "run in this process", which
    saves starting a process and importing pyarrow in it (about 0.5 s of CPU each).
    """
    ordered = sorted(tasks, key=weight, reverse=True)
    heavy = sum(1 for task in ordered if weight(task) > 0)
    return ordered, max(1, min(workers, heavy))


def run_tasks(fn: Callable[[T], R], tasks: Iterable[T], *, workers: int) -> Iterator[R]:
    """Results of ``fn(task)`` in completion order. ``fn`` must be a module-level function."""
    if workers <= 1:
        lean_memory()  # as the scan exporter's serial path does
        for task in tasks:
            yield fn(task)
        return
    context = worker_context(WORKER_MODULES)
    pending: set[Future[Any]] = set()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             initializer=_init_worker, initargs=(dict(os.environ),)) as pool:
        try:
            for task in tasks:
                pending.add(pool.submit(_guarded, fn, task))
                if len(pending) >= 2 * workers:
                    yield from _drain(pending)
            while pending:
                yield from _drain(pending)
        except BaseException:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _drain(pending: set[Future[Any]]) -> Iterator[Any]:
    done, _ = wait(pending, return_when=FIRST_COMPLETED)
    for future in done:
        pending.discard(future)
        result = future.result()
        if isinstance(result, PortableError):
            raise result.rebuild()
        yield result
