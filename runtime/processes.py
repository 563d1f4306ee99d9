"""How ddblake starts its worker processes.

Measured (bench/scan): a *spawned* worker imports everything again before its first item,
about 1 s of CPU and 190 MB of memory per worker. On Linux, workers are therefore forked
from a *fork server* that imported the worker's modules once (``preload``); each worker
then starts in milliseconds and shares those modules' memory. Elsewhere (macOS system
libraries are not fork-safe) they are spawned. Workers build their own clients and
connections either way; nothing is shared with the parent but what is sent to them.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from multiprocessing.context import BaseContext


def worker_context(preload: Sequence[str]) -> BaseContext:
    """The context to start workers with; ``preload`` names the modules they need. There is
    one fork server per process: the first pool's ``preload`` is what it imports; workers
    of later pools import what else they need themselves. The fork server also imports
    :mod:`runtime.forkserver_guard`, so that it ends with this process."""
    if sys.platform != "linux":
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["runtime.forkserver_guard", *preload])
    return context


def prestart(preload: Sequence[str]) -> None:
    """Start the fork server now, so that it imports ``preload`` while the caller does
    other work (describing the table, opening the lake) instead of when workers are due."""
    if worker_context(preload).get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def lean_memory() -> None:
    """Make Arrow allocate with the system allocator in this process.

    Measured (bench/scan, 300k items, 2 workers): Arrow's default mimalloc pool keeps freed
    memory for reuse, 45-50 MB more per worker at its peak than the system allocator
    (tree PSS 583-600 MB vs 477-488 MB), for the same CPU time.
    """
    import pyarrow as pa

    pa.set_memory_pool(pa.system_memory_pool())


def adopt(environ: dict[str, str]) -> None:
    """What every worker does first: take the parent's environment as it was when the pool
    started (a fork server keeps the one *it* started with, so AWS_ENDPOINT_URL or
    AWS_PROFILE set since would be lost), and :func:`lean_memory`."""
    os.environ.clear()
    os.environ.update(environ)
    lean_memory()
