"""Worker processes end when the tool (the driver) dies.

A worker whose driver was SIGKILLed would otherwise run on (a pool worker waits forever on
its task queue, which it holds both ends of) and keep the run's stdout open. The fork server
does not save us: every process it starts holds the write end of its "alive" pipe, so it
waits for its workers while they wait for it. Three guards:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (through ``ctypes``) in the fork server
  (:mod:`runtime.forkserver_guard`, one of its preloads: it dies with the driver) and in
  every worker (it dies with its parent, the fork server, or the driver when spawned);
- everywhere, the **lifeline**: a pipe whose write end only the driver holds
  (:func:`lifeline`); each worker blocks on the read end in a daemon thread, and end of file
  means the driver is gone (the kernel closes a dead process's descriptors, zombie or not);
- everywhere, a daemon thread that checks every :data:`POLL_S` seconds whether the parent
  is still the one the worker started with (a dead parent's children are re-parented).

A worker that finds its driver gone ends at once (``os._exit``). Ending a unit half-way is
safe: units write outputs before the driver commits them, and a run resumes from its
checkpoints or journal.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection

POLL_S = 0.5
EXIT_CODE = 70  # EX_SOFTWARE: the worker ended itself because its parent is gone
_PR_SET_PDEATHSIG = 1


_LIFELINE: dict[str, Connection] = {}


def kernel_guard() -> bool:
    """Ask the kernel to SIGKILL this process when its parent exits (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0
    return False


def _watch(parent: int, poll_s: float) -> None:
    while True:
        time.sleep(poll_s)
        if os.getppid() != parent:
            os._exit(EXIT_CODE)


def bind_to_parent(*, poll_s: float = POLL_S, kernel: bool = True) -> int:
    """Make this process end when its current parent does; returns the parent's pid.

    ``kernel=False`` leaves out ``PR_SET_PDEATHSIG`` (tests of the portable watchdog)."""
    parent = os.getppid()
    if kernel:
        kernel_guard()
    if os.getppid() != parent:  # the parent died before the kernel guard was set
        os._exit(EXIT_CODE)
    threading.Thread(target=_watch, args=(parent, poll_s), name="ddblake-lifeline",
                     daemon=True).start()
    return parent


def lifeline() -> Connection:
    """The read end of this driver's lifeline, to hand to workers when they start (pickled
    with a process's arguments, it is duplicated into the new process). The write end stays
    in this process, unwritten, until it exits."""
    if "reader" not in _LIFELINE:
        reader, writer = multiprocessing.Pipe(duplex=False)
        _LIFELINE.update(reader=reader, writer=writer)
    return _LIFELINE["reader"]


def _hold(reader: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        while True:
            reader.recv_bytes()  # the driver never writes: this returns only at its end
    os._exit(EXIT_CODE)


def hold_lifeline(reader: Connection) -> None:
    """In a worker: end this process when the driver that handed out ``reader`` is gone."""
    threading.Thread(target=_hold, args=(reader,), name="ddblake-lifeline-pipe",
                     daemon=True).start()
