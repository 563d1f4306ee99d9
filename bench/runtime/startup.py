"""What starting worker processes costs: wall time to the first results and the CPU of the
whole process tree, for a pool of 2 workers running 4 tiny units (one Arrow conversion
each), started from a fork server (preloaded, the default on Linux) or spawned.

    .venv/bin/python bench/runtime/startup.py --runs 5

Each run is a fresh interpreter (a fork server lives as long as its parent), made a child
subreaper so the CPU of workers forked by the fork server is counted (bench/proctree.py).
Measures the runner of this checkout: ``runtime.local`` when it exists, else the older
``exporter.file_pool``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from proctree import become_subreaper  # noqa: E402

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
method = sys.argv[1]
import multiprocessing
try:
    import runtime.processes as processes
    from runtime.local import LocalExecutor
    from runtime.executor import Kit
    new = True
except ImportError:
    import lake.processes as processes
    new = False
if method == "spawn":
    processes.worker_context = lambda preload: multiprocessing.get_context("spawn")
    if new:
        import runtime.local
        runtime.local.worker_context = processes.worker_context
    else:
        import exporter.file_pool as fp
        fp.worker_context = processes.worker_context
from bench_units import first_conversion, first_conversion_kit
if new:
    WORKER_MODULES = ("exporter.native", "exporter.incremental", "runtime.arrow_warmup")
    if method != "spawn":
        processes.prestart(WORKER_MODULES)
    ex = LocalExecutor(2)
    out = list(ex.map(first_conversion_kit, range(4), preload=WORKER_MODULES))
else:
    from exporter.file_pool import WORKER_MODULES, run_tasks
    if method != "spawn":
        processes.prestart(WORKER_MODULES)
    out = list(run_tasks(first_conversion, range(4), workers=2))
print(json.dumps({"wall": time.perf_counter() - t0, "n": len(out)}))
"""


def one(method: str) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'bench' / 'runtime'}"}
    out = subprocess.run([sys.executable, "-c", CHILD, method], env=env, capture_output=True,
                         text=True, check=True).stdout
    time.sleep(0.5)  # orphaned workers exit and are reaped by this subreaper
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": json.loads(out)["wall"], "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    become_subreaper()
    for method in ("forkserver", "spawn"):
        runs = [one(method) for _ in range(args.runs)]
        print(f"{method:10s} wall {statistics.median(r['wall'] for r in runs):.2f} s "
              f"(range {min(r['wall'] for r in runs):.2f}-{max(r['wall'] for r in runs):.2f}), "
              f"tree CPU {statistics.median(r['cpu'] for r in runs):.2f} s "
              f"(range {min(r['cpu'] for r in runs):.2f}-{max(r['cpu'] for r in runs):.2f})")


if __name__ == "__main__":
    main()
