"""Units on a Ray cluster (``--engine ray``; ``pip install 'ddblake[ray]'``).

**Finding Ray** as Ray users expect: an existing connection in this process; else
``RAY_ADDRESS``; else ``ray.init``'s own discovery (the latest ``ray start`` on this
machine); else a local Ray started for this run, on the loopback interface only
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``), stopped when the tool exits.

**Units** are sent as Ray tasks with the runtime's policy (:mod:`runtime.executor`), except
that at most ``workers`` are in flight, not twice that: a submitted Ray task starts as soon as
the cluster has a CPU for it, so ``workers`` is the number of units running at once, as with
local processes. Tasks are spread over the nodes, results come in completion order, and
the first error cancels the rest. A task whose worker or node is lost is retried by Ray
(:data:`MAX_RETRIES`); units are idempotent, so a retry leaves the same result. A unit's
DdbLakeError is returned as a value and never retried. Progress is reported per unit when
it finishes (a retried attempt's progress is never counted twice), with the node it ran on.

**AWS settings** travel with each task: the region and endpoint variables of the driver's
environment (:data:`runtime.leases.FORWARDED`), never its credentials. Workers find
credentials where their node has them (an instance profile, EKS Pod Identity or IRSA, the
node's environment), as boto3 does anywhere (docs/cluster.md).

**The capacity limiter** is one Ray actor per budget holding the run's token bucket
(:class:`runtime.capacity.TokenBucket`). Workers lease tokens from it in slices of
:data:`runtime.leases.LEASE_S` seconds of the rate (or what one request needs) and spend
them locally, so the actor sees a few calls per second per worker, not one per request.
Leased tokens are charged when leased, so leasing lets no more through than the bucket
itself: over any ``t`` seconds the whole cluster spends at most ``rate * t + burst`` plus
one request per worker (the debt a Scan page may run into before its cost is known), the
same bound as on one machine. A per-worker share (rate / workers) was rejected: its bound
holds, but a worker idle between units wastes its share and the cluster's number of workers
changes.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from runtime.capacity import Budgets
from runtime.executor import (
    EngineUnavailable,
    Kit,
    Progress,
    guarded,
    new_run_id,
    unwrap,
)
from runtime.leases import (
    BucketActor,
    LeasedBucket,
    adopt_settings,
    forwarded_environ,
)


def _load() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError:
        return None


ray: Any = _load()

T = TypeVar("T")
R = TypeVar("R")
MAX_RETRIES = 3
POLL_S = 0.25
INSTALL_HINT = "pip install 'ddblake[ray]' (or pip install ray), or use --engine local"


def require_ray() -> Any:
    if ray is None:
        raise EngineUnavailable("--engine ray needs Ray, which is not installed here",
                                hint=INSTALL_HINT)
    return ray


def connect() -> str:
    """Connect this process to Ray; return how (``connected``, ``address``, ``discovered``,
    ``local``)."""
    ray_ = require_ray()
    if ray_.is_initialized():
        return "connected"
    options = {"log_to_driver": False, "configure_logging": False}
    if os.environ.get("RAY_ADDRESS"):
        ray_.init(**options)
        return "address"
    with contextlib.suppress(ConnectionError):
        ray_.init(address="auto", **options)
        return "discovered"
    loopback_only()
    ray_.init(include_dashboard=False, **options)
    return "local"


def loopback_only() -> None:
    """Make a Ray started from this process listen and connect on 127.0.0.1 only (what Ray
    does on macOS and Windows): a run's own Ray serves no other machine. Ray reads the
    setting when it is imported, and its processes read the environment."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants = getattr(getattr(require_ray(), "_private", None), "ray_constants", None)
    if constants is not None and hasattr(constants, "ENABLE_RAY_CLUSTER"):
        constants.ENABLE_RAY_CLUSTER = False


def node_label() -> str:
    context = ray.get_runtime_context()
    return f"{ray.util.get_node_ip_address()}/{context.get_node_id()[:8]}"


def _run_unit(fn: Callable[[T, Kit], R], task: T, kit: Kit) -> tuple[Any, str, list[int]]:
    """On a Ray worker: the driver's AWS settings, then the unit."""
    adopt_settings(kit.environ or {})
    kit.freeze = True
    outcome = guarded(fn, task, kit)
    return outcome, node_label(), kit.counted


class RayLeasedBucket(LeasedBucket):
    """Tokens leased from a Ray actor."""

    def _lease(self, units: float) -> float:
        return float(ray.get(self._actor.lease.remote(units)))


class RayExecutor:
    engine = "ray"

    def __init__(self, workers: int | None = None) -> None:
        self.how = connect()
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.nodes: collections.Counter[str] = collections.Counter()
        self._remote = ray.remote(_run_unit).options(
            max_retries=MAX_RETRIES, retry_exceptions=False, scheduling_strategy="SPREAD")
        self._actor = ray.remote(BucketActor).options(num_cpus=0)

    def map(self, fn: Callable[[T, Kit], R], tasks: Iterable[T], *,
            budgets: Budgets | None = None, progress: Progress | None = None,
            preload: Sequence[str] = (), seeds: dict[str, Any] | None = None) -> Iterator[R]:
        budgets = budgets or Budgets()
        actors = {name: self._actor.remote(rate) for name, rate
                  in (("read", budgets.read), ("write", budgets.write)) if rate}
        kit = Kit(new_run_id(), environ=forwarded_environ(),
                  **{name: RayLeasedBucket(actor, getattr(budgets, name))
                     for name, actor in actors.items()})
        kit_ref = ray.put(kit)
        pending: list[Any] = []
        source = iter(tasks)
        try:
            self._fill(fn, source, kit_ref, pending)
            while pending:
                done, _ = ray.wait(pending, num_returns=1, timeout=POLL_S)
                for ref in done:
                    pending.remove(ref)
                    outcome, node, counted = ray.get(ref)
                    if progress is not None and any(counted):
                        progress(*counted)
                    self.nodes[node] += 1
                    yield unwrap(outcome)
                self._fill(fn, source, kit_ref, pending)
        except BaseException:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
            with contextlib.suppress(Exception):
                ray.wait(pending, num_returns=len(pending), timeout=10)
            raise
        finally:
            for actor in actors.values():
                with contextlib.suppress(Exception):
                    ray.kill(actor)

    def _fill(self, fn: Callable[[T, Kit], R], source: Iterator[T], kit_ref: Any,
              pending: list[Any]) -> None:
        while len(pending) < self.workers:
            task = next(source, _END)
            if task is _END:
                return
            pending.append(self._remote.remote(fn, task, kit_ref))


_END: Any = object()
