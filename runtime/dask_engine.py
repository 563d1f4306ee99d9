"""Units on a Dask cluster: a small adapter of :class:`runtime.executor.Executor`.

**Finding Dask**: a ``distributed.Client`` this process already has; else
``DASK_SCHEDULER_ADDRESS``; else a ``LocalCluster`` of worker processes (one thread each) on
127.0.0.1, started for the run and closed with the executor.

**Units** are Dask tasks with the runtime's policy: at most ``workers`` in flight, results in
completion order, a unit's DdbLakeError returned as a value (never retried) and raised in
the driver with its class and hint; the first error sets the run's stop flag (a
``distributed.Event``) and cancels the units not started. A task whose worker is lost is run
again by the scheduler (``distributed.scheduler.allowed-failures``, 3 by default); units are
idempotent, so a retry leaves the same result. AWS settings travel with each task as on Ray
(:mod:`runtime.leases`), credentials never do.

**Budgets**: one Dask actor per budget holds the run's token bucket and leases tokens to
the workers (:class:`runtime.leases.LeasedBucket`, the same bound as on Ray).

Not wired to ``--engine`` yet: :func:`runtime.executor.make_executor` accepts ``dask``.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from runtime.capacity import Budgets
from runtime.executor import EngineUnavailable, Kit, Progress, guarded, new_run_id, unwrap
from runtime.leases import BucketActor, LeasedBucket, adopt_settings, forwarded_environ

T = TypeVar("T")
R = TypeVar("R")
INSTALL_HINT = "pip install dask distributed, or use --engine local"


def _load() -> Any:
    try:
        return importlib.import_module("distributed")
    except ImportError:
        return None


distributed: Any = _load()


def require_dask() -> Any:
    if distributed is None:
        raise EngineUnavailable("the Dask engine needs dask.distributed, which is not "
                                "installed here", hint=INSTALL_HINT)
    return distributed


def connect(workers: int | None) -> tuple[Any, Any]:
    """(client, the cluster started for this run or None)."""
    dd = require_dask()
    with contextlib.suppress(ValueError):
        return dd.get_client(), None
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return dd.Client(address), None
    cluster = dd.LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                              processes=True, host="127.0.0.1", dashboard_address=None)
    return dd.Client(cluster), cluster


class DaskLeasedBucket(LeasedBucket):
    """Tokens leased from a Dask actor."""

    def _lease(self, units: float) -> float:
        return float(self._actor.lease(units).result())


def _run_unit(fn: Callable[[T, Kit], R], task: T, kit: Kit) -> tuple[Any, str, list[int]]:
    """On a Dask worker: the driver's AWS settings, then the unit."""
    adopt_settings(kit.environ or {})
    outcome = guarded(fn, task, kit)
    host = distributed.get_worker().address.rsplit(":", 1)[0]
    return outcome, f"{host}/{os.getpid()}", kit.counted


class DaskExecutor:
    engine = "dask"

    def __init__(self, workers: int | None = None) -> None:
        self.client, self._cluster = connect(workers)
        found = len(self.client.scheduler_info().get("workers", {}))
        self.workers = workers or max(1, found)
        self.nodes: collections.Counter[str] = collections.Counter()

    def close(self) -> None:
        if self._cluster is not None:
            self.client.close()
            self._cluster.close()

    def map(self, fn: Callable[[T, Kit], R], tasks: Iterable[T], *,
            budgets: Budgets | None = None, progress: Progress | None = None,
            preload: Sequence[str] = (), seeds: dict[str, Any] | None = None) -> Iterator[R]:
        budgets = budgets or Budgets()
        run_id = new_run_id()
        stop = distributed.Event(f"ddblake-stop-{run_id}", client=self.client)
        limits = {name: DaskLeasedBucket(self.client.submit(
                      BucketActor, rate, actor=True).result(), rate)
                  for name, rate in (("read", budgets.read), ("write", budgets.write))
                  if rate}
        kit = Kit(run_id, environ=forwarded_environ(), stop=stop, **limits)
        done = distributed.as_completed()
        pending: set[Any] = set()
        source = iter(tasks)
        try:
            self._fill(fn, source, kit, pending, done)
            for future in done:
                pending.discard(future)
                outcome, node, counted = future.result()
                if progress is not None and any(counted):
                    progress(*counted)
                self.nodes[node] += 1
                yield unwrap(outcome)
                self._fill(fn, source, kit, pending, done)
        except BaseException:
            stop.set()  # running units end at their next check
            self.client.cancel(list(pending))
            raise

    def _fill(self, fn: Callable[[T, Kit], R], source: Iterator[T], kit: Kit,
              pending: set[Any], done: Any) -> None:
        while len(pending) < self.workers:
            task = next(source, _END)
            if task is _END:
                return
            future = self.client.submit(_run_unit, fn, task, kit, pure=False)
            pending.add(future)
            done.add(future)


_END: Any = object()
