"""What engines with remote workers share (:mod:`runtime.ray_engine`,
:mod:`runtime.dask_engine`): the AWS settings that travel with each unit (never credentials),
and the run's token bucket held by one actor that leases tokens to the workers.

**AWS settings**: the region and endpoint variables of the driver's environment
(:data:`FORWARDED`), never its credentials. Workers find credentials where their node has
them (an instance profile, EKS Pod Identity or IRSA, the node's environment).

**Leasing**: workers lease tokens from the actor in slices of ``LEASE_S`` seconds of the
rate (or what one request needs) and spend them locally; leased tokens are charged when
leased, so leasing lets no more through than the bucket itself (docs/cluster.md).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from runtime.capacity import TokenBucket

FORWARDED = ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_USE_FIPS_ENDPOINT",
             "AWS_USE_DUALSTACK_ENDPOINT", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")
LEASE_S = 0.1


def _forwarded(name: str) -> bool:
    return name in FORWARDED or name.startswith("AWS_ENDPOINT_URL_")


def forwarded_environ() -> dict[str, str]:
    """The driver's AWS settings that workers take (no credentials, no profile: a profile
    names files on this machine; the task carries an explicit --profile)."""
    return {k: v for k, v in os.environ.items() if _forwarded(k)}


_NODE_SETTINGS: list[dict[str, str]] = []


def adopt_settings(environ: dict[str, str]) -> None:
    """On a worker: the node's own settings as they were when the worker first ran a unit,
    then the driver's (so that a setting of an earlier run does not stay behind)."""
    if not _NODE_SETTINGS:
        _NODE_SETTINGS.append({k: v for k, v in os.environ.items() if _forwarded(k)})
    for name in [k for k in os.environ if _forwarded(k)]:
        del os.environ[name]
    os.environ.update(_NODE_SETTINGS[0])
    os.environ.update(environ)


class BucketActor:
    """The run's token bucket, in one place for the whole cluster."""

    def __init__(self, rate: float) -> None:
        self._bucket = TokenBucket(rate)
        self.leased = 0.0

    def lease(self, units: float) -> float:
        """Grant ``units`` (0 returned) if the balance is positive, else say how long to
        wait before asking again."""
        wait = self._bucket.wait_time()
        if wait > 0:
            return wait
        self._bucket.consume(units)
        self.leased += units
        return 0.0

    def total(self) -> float:
        return self.leased


class LeasedBucket:
    """A worker's view of a :class:`BucketActor`: the :class:`runtime.capacity.Limiter`
    interface, spending tokens leased from the actor."""

    def __init__(self, actor: Any, rate: float) -> None:
        self._actor = actor
        self._slice = max(1.0, rate * LEASE_S)
        self._have = 0.0
        self._lock = threading.Lock()

    def _refill(self, *, strict: bool) -> float:
        waited = 0.0
        with self._lock:
            while self._have < 0 or (strict and self._have == 0):
                units = max(self._slice, -self._have + 1e-9)
                wait = self._lease(units)
                if wait == 0:
                    self._have += units
                else:
                    time.sleep(wait)
                    waited += wait
        return waited

    def _lease(self, units: float) -> float:
        """Ask the actor for ``units``: 0 when granted, else how long to wait."""
        raise NotImplementedError

    def acquire(self) -> float:
        return self._refill(strict=True)

    def consume(self, units: float) -> None:
        with self._lock:
            self._have -= units

    def take(self, units: float) -> float:
        self.consume(units)
        return self._refill(strict=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"actor": self._actor, "slice": self._slice}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._actor, self._slice = state["actor"], state["slice"]
        self._have = 0.0
        self._lock = threading.Lock()


