"""Measure one command's whole process tree: wall time, CPU, peak RSS and peak PSS.

- **CPU** is the user+system time of every process of the tree, including workers that
  outlive their parent or are started by a fork server (they are not the tool's children, so
  ``wait4`` on the tool alone misses them): this process becomes a *child subreaper*
  (``prctl(PR_SET_CHILD_SUBREAPER)``), so orphaned descendants are re-parented to it, and
  the CPU is read from ``getrusage(RUSAGE_CHILDREN)`` once every one of them is reaped.
- **Peak RSS** sums every process's resident set (``/proc`` polled every 20 ms). Pages
  shared between processes (modules of a forked worker, inherited from its parent) count
  once per process, so this overstates a forking tool's memory.
- **Peak PSS** sums every process's proportional set size (``smaps_rollup``): each shared
  page is split between the processes that share it, so the sum is the memory the tree
  really holds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import subprocess
import threading
import time
from typing import Any

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return parents


def _children(pid: int) -> list[int]:
    """Children of ``pid`` from ``/proc/PID/task/TID/children`` (no scan of all of /proc)."""
    found = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return found


def descendants(root: int) -> list[int]:
    """``root`` and its descendants. Cheap on purpose: the poller runs beside the tool it
    measures (scanning all of /proc every 20 ms took ~16 % of a core here)."""
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(_children(pid))
    return found


def _kb(path: str, field: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(root: int) -> tuple[int, int]:
    """(RSS, PSS) of ``root`` and its descendants, in bytes."""
    pids = descendants(root)
    rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in pids)
    pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids)
    return rss * 1024, pss * 1024


def _reap_orphans(keep: set[int]) -> None:
    """Wait for every child of this process that is not in ``keep`` (orphans of the tree)."""
    me = os.getpid()
    while True:
        orphans = [p for p, parent in _parents().items() if parent == me and p not in keep]
        if not orphans:
            return
        for pid in orphans:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def measure(command: list[str], env: dict[str, str], *, keep: set[int] | None = None,
            cwd: str | None = None) -> dict[str, Any]:
    """Run ``command``; ``keep`` = pids of this process's other children (servers)."""
    keep = {*(keep or set()), *[p for p, parent in _parents().items() if parent == os.getpid()]}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    peak = [0, 0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            rss, pss = tree_memory(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            time.sleep(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    wall = time.monotonic() - started
    done.set()
    watcher.join()
    _reap_orphans(keep)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak[0] / 1e6,
            "peak_pss_mb": peak[1] / 1e6, "returncode": proc.returncode,
            "stdout": stdout.decode(errors="replace")[-2000:],
            "stderr": stderr.decode(errors="replace")[-2000:]}
