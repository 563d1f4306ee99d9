"""Worker processes end when their parent dies.

A worker whose parent was SIGKILLed would otherwise run on (a pool worker waits forever on
its task queue, which it holds both ends of) and keep the run's stdout open. Two guards:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (through ``ctypes``): the kernel kills the
  worker as soon as its parent exits. Its parent is the fork server, which exits when the
  tool does (the fork server reads the end of a pipe only the tool holds), or the tool
  itself when workers are spawned;
- everywhere, a daemon thread that checks every :data:`POLL_S` seconds whether the parent
  is still the one the worker started with (a dead parent's children are re-parented, so
  ``getppid()`` changes), and ends the process at once (``os._exit``) when it is not.

Ending a unit half-way is safe: units write outputs before the driver commits them, and a
run resumes from its checkpoints or journal.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time

POLL_S = 0.5
EXIT_CODE = 70  # EX_SOFTWARE: the worker ended itself because its parent is gone
_PR_SET_PDEATHSIG = 1


def _pdeathsig() -> bool:
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
        _pdeathsig()
    if os.getppid() != parent:  # the parent died before the kernel guard was set
        os._exit(EXIT_CODE)
    threading.Thread(target=_watch, args=(parent, poll_s), name="ddblake-lifeline",
                     daemon=True).start()
    return parent
