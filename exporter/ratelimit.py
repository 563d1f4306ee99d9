"""A token bucket shared by every worker process, fed by Scan's ``ConsumedCapacity``.

The cost of a Scan page is known only after it is read, so the bucket works on debt:
a worker may send a request while the balance is positive; the page's consumed capacity is
then taken from the balance, which may go negative; the next request waits until the
refill (``rate`` units per second, at most ``burst`` banked) brings it back above zero.
Averaged over a few seconds the whole export reads at most ``rate`` RCU per second.

The balance and the refill time live in a shared ``multiprocessing`` array (one lock), so
the bucket is handed to worker processes when they start. Clock and sleep are injectable
for tests.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]
Sleep = Callable[[float], None]
MAX_WAIT_S = 5.0


class TokenBucket:
    def __init__(self, rate: float, *, burst: float | None = None, context: Any = None,
                 clock: Clock = time.monotonic, sleep: Sleep = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else rate)
        self._clock = clock
        self._sleep = sleep
        ctx = context or multiprocessing.get_context("spawn")
        self._state = ctx.Array("d", [self.burst, clock()])

    def _refill(self, now: float) -> float:
        tokens, last = float(self._state[0]), float(self._state[1])
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        self._state[0], self._state[1] = tokens, now
        return tokens

    @property
    def balance(self) -> float:
        with self._state.get_lock():
            return float(self._refill(self._clock()))

    def acquire(self) -> float:
        """Wait until the balance is positive; return the seconds waited."""
        waited = 0.0
        while True:
            with self._state.get_lock():
                tokens = self._refill(self._clock())
            if tokens > 0:
                return waited
            pause = min(MAX_WAIT_S, (-tokens + 1e-3) / self.rate)
            self._sleep(pause)
            waited += pause

    def consume(self, units: float) -> None:
        """Charge ``units`` of consumed capacity (may leave the balance negative)."""
        with self._state.get_lock():
            self._refill(self._clock())
            self._state[0] -= units

    def __getstate__(self) -> dict[str, Any]:
        return {"rate": self.rate, "burst": self.burst, "_state": self._state}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._clock = time.monotonic
        self._sleep = time.sleep
