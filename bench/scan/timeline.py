"""CPU of each process of one ``ddblake export`` over time, against the replay server.

    .venv/bin/python bench/scan/timeline.py --items 100000      # the timeline in the README
    .venv/bin/python bench/scan/timeline.py --items 2000        # the fixed cost per process

Every 0.25 s, the CPU seconds each process of the tree used since the last sample (from
``/proc/PID/stat``); at the end, each process's total. Shows where a run waits (start-up,
the last part, the commit) and what starting the processes costs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import run  # noqa: E402
from proctree import descendants  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def label(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as f:
            args = f.read().split("\0")
    except OSError:
        return str(pid)
    if len(args) < 2:
        return str(pid)
    if any("multiprocessing" in a for a in args):
        return f"{pid} fork server, worker or resource tracker"
    return f"{pid} {Path(args[1]).name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    server, port = run.start([sys.executable, str(HERE / "replay_server.py"), "--items",
                              str(args.items)], "PORT")
    try:
        endpoint = f"http://127.0.0.1:{port}"
        run._warm(endpoint)
        env = {**os.environ, **run.CREDS, "AWS_ENDPOINT_URL": endpoint,
               "AWS_EC2_METADATA_DISABLED": "true"}
        work = run.OUT / "timeline"
        subprocess.run(["rm", "-rf", str(work)], check=True)
        command, _ = run.tools(endpoint, work)["ddblake"]
        started = time.monotonic()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        totals: dict[int, float] = {}
        labels: dict[int, str] = {}
        while proc.poll() is None:
            shares = []
            for pid in descendants(proc.pid):
                now = cpu_seconds(pid)
                if now is not None:
                    labels.setdefault(pid, label(pid))
                    shares.append(f"{labels[pid]} {now - totals.get(pid, 0.0):.2f}")
                    totals[pid] = now
            print(f"{time.monotonic() - started:5.2f}s  " + "  ".join(shares), flush=True)
            time.sleep(0.25)
        print("CPU seconds per process (until its last sample):")
        for pid, seconds in totals.items():
            print(f"  {labels[pid]}: {seconds:.2f}")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
