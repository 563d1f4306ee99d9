"""Threads inside one unit, for work that waits on the network (requests in flight, part
downloads), with the runtime's policy: at most ``2 * threads`` items submitted and
unfinished, items drawn lazily from their iterable, results in completion order, and the
first error cancels what has not started and is raised."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(fn: Callable[[T], R], items: Iterable[T], threads: int) -> Iterator[R]:
    """``fn(item)`` for every item on ``threads`` threads (1: in this thread, in order)."""
    if threads <= 1:
        for item in items:
            yield fn(item)
        return
    pending: set[Future[R]] = set()
    with ThreadPoolExecutor(threads) as pool:
        try:
            for item in items:
                if len(pending) >= 2 * threads:
                    yield from _done(pending)
                pending.add(pool.submit(fn, item))
            while pending:
                yield from _done(pending)
        finally:
            for future in pending:
                future.cancel()


def _done(pending: set[Future[R]]) -> Iterator[R]:
    done, _ = wait(pending, return_when=FIRST_COMPLETED)
    for future in done:
        pending.discard(future)
        yield future.result()
