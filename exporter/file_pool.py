"""Runs independent per-file tasks on worker processes, bounded and cancellable.

At most ``2 * workers`` tasks are in flight (a producer never queues without limit); the
first failure cancels what has not started and is re-raised. ``workers <= 1`` runs the
tasks in this process (tests, in-process moto, tiny exports).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_tasks(fn: Callable[[T], R], tasks: Iterable[T], *, workers: int) -> Iterator[R]:
    """Results of ``fn(task)`` in completion order. ``fn`` must be a module-level function."""
    if workers <= 1:
        for task in tasks:
            yield fn(task)
        return
    context = multiprocessing.get_context("spawn")
    pending: set[Future[Any]] = set()
    source = iter(tasks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        try:
            for task in source:
                pending.add(pool.submit(fn, task))
                if len(pending) >= 2 * workers:
                    yield from _drain(pending, FIRST_COMPLETED)
            while pending:
                yield from _drain(pending, FIRST_COMPLETED)
        except BaseException:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _drain(pending: set[Future[Any]], how: str) -> Iterator[Any]:
    done, _ = wait(pending, return_when=how)
    for future in done:
        pending.discard(future)
        yield future.result()
