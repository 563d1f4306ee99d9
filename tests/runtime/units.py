"""Module-level units for the runtime's tests (workers import them by name)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from runtime.executor import Kit
from schemas.errors import CorruptDataError


def square(n: int, kit: Kit) -> int:
    kit.report(1, n)
    return n * n


def square_slowly(n: int, kit: Kit) -> int:
    """A unit that holds its worker's CPU for a while, as real units do: an instant one can
    finish on the first node before the scheduler has placed anything on the second."""
    time.sleep(0.3)
    return square(n, kit)


def fail_or_wait(task: tuple[str, str], kit: Kit) -> str:
    """``("fail", _)`` raises at once; ``("wait", folder)`` waits for the stop flag (at most
    30 s) and leaves a marker saying whether it saw it."""
    what, folder = task
    if what == "fail":
        time.sleep(0.5)  # let the waiting unit start
        raise CorruptDataError("part 7 is damaged", hint="run ddblake verify --deep")
    Path(folder, f"started-{os.getpid()}").write_text("yes")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if kit.stopped():
            Path(folder, f"stopped-{os.getpid()}").write_text("yes")
            return "stopped"
        time.sleep(0.05)
    return "timeout"


def die(n: int, kit: Kit) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return n


def spend_writes(task: tuple[int, str, int], kit: Kit) -> list[float]:
    """Wait until ``together`` units are ready (files in ``folder``), then take the write
    budget one unit at a time, ``count`` times; return when each take returned."""
    count, folder, together = task
    assert kit.write is not None
    Path(folder, f"ready-{os.getpid()}").write_text("")
    deadline = time.monotonic() + 60
    while len(list(Path(folder).glob("ready-*"))) < together and time.monotonic() < deadline:
        time.sleep(0.01)
    times = []
    for _ in range(count):
        kit.write.take(1.0)
        times.append(time.monotonic())
    return times


def pid_of_worker(n: int, kit: Any) -> int:
    time.sleep(0.2)
    return os.getpid()


def die_once(task: tuple[int, str], kit: Kit) -> tuple[int, int]:
    """The first attempt of each task kills its own worker in the middle of the unit; the
    retry finds the marker and finishes. Returns the value and the attempt's pid."""
    n, folder = task
    marker = Path(folder, f"attempt-{n}")
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return n * n, os.getpid()


def where(n: int, kit: Kit) -> int:
    time.sleep(0.3)
    return n
