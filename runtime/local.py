"""Units on worker processes of this machine.

Processes, not threads: parsing is CPU-bound and the GIL makes threads 1x on this kind of
work (performance.md section 3). Workers are forked from a fork server that imported the
units' modules once (:mod:`runtime.processes`; spawned where fork is unsafe), adopt the
driver's environment of this run, end when the driver dies (:mod:`runtime.lifeline`),
ignore SIGINT (the driver stops them through the stop flag), and send progress to the
driver through a queue. Budgets are token buckets in shared memory, handed to the workers
when they start.
"""

from __future__ import annotations

import collections
import gc
import os
import queue
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from runtime.capacity import Budgets, TokenBucket
from runtime.executor import (
    Kit,
    Progress,
    WorkerLost,
    guarded,
    new_run_id,
    this_node,
    unwrap,
)
from runtime.lifeline import bind_to_parent, hold_lifeline, lifeline
from runtime.processes import adopt, worker_context

T = TypeVar("T")
R = TypeVar("R")
POLL_S = 0.25
_WORKER: dict[str, Kit] = {}


def _init_worker(kit: Kit, environ: dict[str, str], reader: Any) -> None:
    bind_to_parent()
    hold_lifeline(reader)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    adopt(environ)
    kit.freeze = True
    _WORKER["kit"] = kit
    gc.freeze()  # keep what the worker imported out of every collection


def _run(fn: Callable[[T, Kit], R], task: T) -> Any:
    return guarded(fn, task, _WORKER["kit"])


class LocalExecutor:
    engine = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.nodes: collections.Counter[str] = collections.Counter()

    def map(self, fn: Callable[[T, Kit], R], tasks: Iterable[T], *,
            budgets: Budgets | None = None, progress: Progress | None = None,
            preload: Sequence[str] = (), seeds: dict[str, Any] | None = None) -> Iterator[R]:
        context = worker_context(preload)
        budgets = budgets or Budgets()
        sink = context.Queue() if progress is not None else None
        stop = context.Event()
        kit = Kit(new_run_id(), read=_shared(budgets.read, context),
                  write=_shared(budgets.write, context), sink=sink, stop=stop)
        pending: set[Future[Any]] = set()
        source = iter(tasks)
        with ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                 initargs=(kit, dict(os.environ), lifeline())) as pool:
            try:
                _fill(pool, fn, source, pending, 2 * self.workers)
                while pending:
                    done, _ = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                    _drain(sink, progress)
                    for future in done:
                        pending.discard(future)
                        result = unwrap(future.result())
                        self.nodes[this_node()] += 1
                        yield result
                    _fill(pool, fn, source, pending, 2 * self.workers)
            except BrokenProcessPool as e:
                stop.set()
                raise WorkerLost("a worker process died (killed, or out of memory)",
                                 hint="re-run (export and restore continue with --resume); "
                                      "if memory ran out, use fewer --workers") from e
            except BaseException:
                stop.set()  # running units end at their next check, state saved
                for future in pending:
                    future.cancel()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            finally:
                _drain(sink, progress)
        _drain(sink, progress)  # the pool joined its workers: their queues flushed every report


def _fill(pool: ProcessPoolExecutor, fn: Callable[[T, Kit], R], source: Iterator[T],
          pending: set[Future[Any]], limit: int) -> None:
    while len(pending) < limit:
        task = next(source, _END)
        if task is _END:
            return
        pending.add(pool.submit(_run, fn, task))


_END: Any = object()


def _shared(rate: float | None, context: Any) -> TokenBucket | None:
    return TokenBucket(rate, context=context) if rate else None


def _drain(sink: Any, progress: Progress | None) -> None:
    if sink is None or progress is None:
        return
    while True:
        try:
            items, nbytes = sink.get_nowait()
        except (queue.Empty, OSError, ValueError):
            return
        progress(items, nbytes)
