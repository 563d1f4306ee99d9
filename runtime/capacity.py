"""One capacity limiter for read and write budgets: a token bucket shared by every worker of
a run (:class:`TokenBucket`), whatever runs the workers.

The bucket works on debt, because a Scan page's cost is known only after it is read:

- :meth:`TokenBucket.acquire` waits while the balance is not positive, then lets a request
  through; :meth:`TokenBucket.consume` charges what the request consumed (the balance may
  go negative, and the next request waits until the refill brings it back above zero);
- :meth:`TokenBucket.take` charges a cost known in advance (a BatchWriteItem's write units)
  and waits until the balance is back to zero.

The balance refills at ``rate`` units per second and banks at most ``burst`` (one second of
``rate`` by default). Averaged over a few seconds, all the workers together spend at most
``rate`` per second; over any ``t`` seconds at most ``rate * t + burst`` plus one request
per worker (the debt each may run into before it waits).

Where the balance lives depends on the engine: in this process (serial runs, threads), in a
``multiprocessing`` shared array (local worker processes: handed to them when they start), or
in a Ray actor that leases tokens to the workers (:mod:`runtime.ray_engine`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

Clock = Callable[[], float]
Sleep = Callable[[float], None]
MAX_WAIT_S = 5.0


class Limiter(Protocol):
    """What a unit sees of a budget (:class:`TokenBucket`, or Ray's leasing client)."""

    def acquire(self) -> float: ...

    def consume(self, units: float) -> None: ...

    def take(self, units: float) -> float: ...


@dataclass(frozen=True)
class Budgets:
    """A run's budgets in capacity units per second (None: unlimited), shared by all its
    workers: ``read`` (RCU, charged after each request) and ``write`` (WCU, before)."""

    read: float | None = None
    write: float | None = None

    def __post_init__(self) -> None:
        for name in ("read", "write"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} budget must be positive, not {value}")


class _LocalState:
    """The bucket's two numbers and a lock, for one process (threads share it)."""

    def __init__(self, values: list[float]) -> None:
        self._values = values
        self._lock = threading.Lock()

    def get_lock(self) -> threading.Lock:
        return self._lock

    def __getitem__(self, index: int) -> float:
        return self._values[index]

    def __setitem__(self, index: int, value: float) -> None:
        self._values[index] = value


class TokenBucket:
    """``context``: a ``multiprocessing`` context to share the bucket with worker processes
    started from it (handed to them at start, e.g. in a pool's ``initargs``); None keeps it
    in this process. Clock and sleep are injectable for tests."""

    def __init__(self, rate: float, *, burst: float | None = None, context: Any = None,
                 clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        start = [self.burst, clock()]
        self._state: Any = context.Array("d", start) if context is not None \
            else _LocalState(start)

    def _refill(self, now: float) -> float:
        tokens, last = float(self._state[0]), float(self._state[1])
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        self._state[0], self._state[1] = tokens, now
        return tokens

    @property
    def balance(self) -> float:
        with self._state.get_lock():
            return float(self._refill(self._clock()))

    def wait_time(self) -> float:
        """Seconds until the balance is positive (0: a request may go now)."""
        tokens = self.balance
        return 0.0 if tokens > 0 else min(MAX_WAIT_S, (-tokens + 1e-3) / self.rate)

    def acquire(self) -> float:
        """Wait until the balance is positive; return the seconds waited."""
        waited = 0.0
        while (pause := self.wait_time()) > 0:
            self._sleep(pause)
            waited += pause
        return waited

    def consume(self, units: float) -> None:
        """Charge ``units`` of consumed capacity (may leave the balance negative)."""
        with self._state.get_lock():
            self._refill(self._clock())
            self._state[0] -= units

    def take(self, units: float) -> float:
        """Charge ``units`` now and wait until the balance is back to zero; return the
        seconds waited. Concurrent takers queue in the order they charged."""
        with self._state.get_lock():
            tokens = self._refill(self._clock()) - units
            self._state[0] = tokens
        pause = -tokens / self.rate if tokens < 0 else 0.0
        if pause > 0:
            self._sleep(pause)
        return pause

    def __getstate__(self) -> dict[str, Any]:
        if isinstance(self._state, _LocalState):
            raise TypeError("this TokenBucket lives in one process; make it with a "
                            "multiprocessing context to share it")
        return {"rate": self.rate, "burst": self.burst, "_state": self._state}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._clock = time.monotonic
        self._sleep = time.sleep
