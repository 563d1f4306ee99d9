"""The executor interface, the unit's :class:`Kit`, and the serial executor.

One policy for every engine:

- **bounded work in flight**: tasks are drawn from their iterable lazily, at most
  ``2 * workers`` submitted and unfinished at a time;
- **results in completion order**; the caller (the driver) is the only one that commits;
- **errors**: a unit's :class:`~schemas.errors.DdbLakeError` reaches the driver with its
  class, message and hint (:class:`~schemas.errors.PortableError`); the first error stops
  the run: units not started are cancelled, running ones see :meth:`Kit.stopped` and end
  at their next check (with their checkpoints saved), and the error is raised;
- **Ctrl-C** in the driver does the same (workers ignore SIGINT and stop through the stop
  flag, so a unit is never cut in the middle of a write);
- **a lost worker** (killed, out of memory) is :class:`WorkerLost` locally; Ray retries the
  unit (units are idempotent).
"""

from __future__ import annotations

import collections
import gc
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from runtime.capacity import Budgets, Limiter, TokenBucket
from schemas.errors import DdbLakeError, PortableError, UsageError

T = TypeVar("T")
R = TypeVar("R")
Unit = Callable[[T, "Kit"], R]
Progress = Callable[[int, int], None]
ENGINES = ("local", "ray")
_CACHES: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
_KEEP_RUNS = 4


class WorkerLost(DdbLakeError):
    """A worker process died in the middle of a unit (killed, or out of memory)."""

    exit_code = 1


class EngineUnavailable(UsageError):
    """The engine asked for is not installed or cannot be reached."""


class Kit:
    """What a running unit may use besides its task. Plain and picklable: it travels to
    worker processes when they start (local) or with each task (Ray)."""

    def __init__(self, run_id: str, *, read: Limiter | None = None,
                 write: Limiter | None = None, sink: Any = None, stop: Any = None,
                 environ: dict[str, str] | None = None) -> None:
        self.run_id = run_id
        self.read = read
        self.write = write
        self.environ = environ
        self._sink = sink
        self._stop = stop
        self.counted = [0, 0]  # items, bytes reported (when there is no sink)
        self.freeze = False  # gc.freeze() what a worker builds (not in the driver)

    def report(self, items: int, nbytes: int = 0) -> None:
        """Progress: ``items`` more items (and ``nbytes`` bytes) done."""
        if self._sink is None:
            self.counted[0] += items
            self.counted[1] += nbytes
        elif hasattr(self._sink, "put"):
            self._sink.put((items, nbytes))
        else:
            self._sink(items, nbytes)

    def stopped(self) -> bool:
        """True once the run is stopping (an error elsewhere, Ctrl-C): end at the next
        safe point, with state saved."""
        return self._stop is not None and bool(self._stop.is_set())

    def cached(self, name: str, factory: Callable[[], Any]) -> Any:
        """A per-worker, per-run resource (a client, a FileIO), made once by ``factory``.
        A serial run finds the driver's own resources here (``seeds`` of ``map``)."""
        cache = _CACHES.get(self.run_id)
        if cache is None:
            cache = _CACHES[self.run_id] = {}
            while len(_CACHES) > _KEEP_RUNS:
                _CACHES.popitem(last=False)
        if name not in cache:
            cache[name] = factory()
            if self.freeze:
                gc.freeze()  # keep clients' service models out of every collection
        return cache[name]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "counted": [0, 0]}


def new_run_id() -> str:
    return uuid.uuid4().hex


def forget_run(run_id: str) -> None:
    _CACHES.pop(run_id, None)


def seed(run_id: str, seeds: dict[str, Any] | None) -> None:
    if seeds:
        _CACHES.setdefault(run_id, {}).update(seeds)


def guarded(fn: Callable[[T, Kit], R], task: T, kit: Kit) -> R | PortableError:
    """Run a unit; a DdbLakeError comes back as a value that survives pickling."""
    try:
        return fn(task, kit)
    except DdbLakeError as e:
        return PortableError.of(e)


def unwrap(outcome: Any) -> Any:
    if isinstance(outcome, PortableError):
        raise outcome.rebuild()
    return outcome


def this_node() -> str:
    return socket.gethostname()


class Executor(Protocol):
    engine: str
    workers: int
    nodes: collections.Counter[str]

    def map(self, fn: Callable[[T, Kit], R], tasks: Iterable[T], *,
            budgets: Budgets | None = None, progress: Progress | None = None,
            preload: Sequence[str] = (), seeds: dict[str, Any] | None = None) -> Iterator[R]:
        """``fn(task, kit)`` for every task, results in completion order. ``fn`` is a
        module-level function; ``preload`` names the modules workers need (a fork server
        imports them once); ``seeds`` are the driver's own resources for a serial run."""
        ...


class SerialExecutor:
    """Every unit in this process, one after the other (tests, in-process moto, tiny runs)."""

    engine = "serial"
    workers = 1

    def __init__(self, *, clock: Any = None, sleep: Any = None) -> None:
        self.nodes: collections.Counter[str] = collections.Counter()
        self._timing = {k: v for k, v in (("clock", clock), ("sleep", sleep)) if v}

    def map(self, fn: Callable[[T, Kit], R], tasks: Iterable[T], *,
            budgets: Budgets | None = None, progress: Progress | None = None,
            preload: Sequence[str] = (), seeds: dict[str, Any] | None = None) -> Iterator[R]:
        from runtime.processes import lean_memory

        lean_memory()
        budgets = budgets or Budgets()
        kit = Kit(new_run_id(), read=self._bucket(budgets.read), write=self._bucket(budgets.write),
                  sink=progress)
        seed(kit.run_id, seeds)
        try:
            for task in tasks:
                result = fn(task, kit)
                self.nodes[this_node()] += 1
                yield result
        finally:
            forget_run(kit.run_id)

    def _bucket(self, rate: float | None) -> TokenBucket | None:
        return TokenBucket(rate, **self._timing) if rate else None


def plan(tasks: Sequence[T], weight: Callable[[T], int], workers: int) -> tuple[list[T], int]:
    """The tasks heaviest first, and how many workers are worth starting.

    Heaviest first, so the last task to start is a short one and workers finish together
    (with one big file among small ones, starting it last would leave the others idle).
    Workers: at most ``workers``, no more than the tasks that weigh anything (empty export
    partitions cost next to nothing) and at least 1; 1 means "run in this process", which
    saves starting a process and importing pyarrow in it (about 0.5 s of CPU each).
    """
    ordered = sorted(tasks, key=weight, reverse=True)
    heavy = sum(1 for task in ordered if weight(task) > 0)
    return ordered, max(1, min(workers, heavy))


def make_executor(engine: str, workers: int | None) -> Executor:
    """The executor for ``--engine``: ``local`` (worker processes on this machine; 1 worker
    runs in this process) or ``ray`` (a Ray cluster; ``workers`` None = its CPUs)."""
    if engine == "ray":
        from runtime.ray_engine import RayExecutor

        return RayExecutor(workers)
    if engine == "dask":  # an adapter of this interface; not a --engine choice yet
        from runtime.dask_engine import DaskExecutor

        return DaskExecutor(workers)
    if engine != "local":
        raise UsageError(f"unknown engine {engine!r}", hint="use --engine local or ray")
    count = workers or os.cpu_count() or 1
    if count <= 1:
        return SerialExecutor()
    from runtime.local import LocalExecutor

    return LocalExecutor(count)
