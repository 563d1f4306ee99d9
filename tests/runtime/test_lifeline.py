"""Workers end when their parent dies: the kernel guard (PR_SET_PDEATHSIG) and the portable
watchdog each on their own, then a real ``ddblake export`` and ``ddblake restore`` whose
main process alone is SIGKILLed in the middle: every worker is gone within seconds and
stdout closes."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddblake import sampledata
from exporter.describe import describe_table
from tests.helpers import REGION, create_table, put_items
from tests.restorer.lakehelp import snapshot_items

ROOT = Path(__file__).resolve().parents[2]
DDBLAKE = str(Path(sys.executable).with_name("ddblake"))
GRANDCHILD = """
import os, sys, time
from runtime.lifeline import bind_to_parent
pid = os.fork()
if pid == 0:
    bind_to_parent(poll_s=0.2, kernel=sys.argv[1] == "kernel")
    time.sleep(120)
    os._exit(0)
print(pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _descendants(pid: int) -> set[int]:
    found, stack = set(), [pid]
    while stack:
        current = stack.pop()
        try:
            for tid in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{tid}/children") as f:
                    children = [int(c) for c in f.read().split()]
                found.update(children)
                stack.extend(children)
        except OSError:
            continue
    return found


def _gone_within(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return {p for p in pids if _alive(p)}


@pytest.mark.parametrize("guard", ["kernel", "watchdog"])
def test_a_bound_process_ends_with_its_parent(guard: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", GRANDCHILD, guard], env=env,
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    time.sleep(0.3)  # bound and watching
    assert _alive(child)
    parent.kill()
    parent.wait()
    assert not _gone_within({child}, 1.0 if guard == "kernel" else 3.0)


def _kill_main_and_check(proc: subprocess.Popen[bytes], ready: Any) -> None:
    deadline = time.monotonic() + 120
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = _descendants(proc.pid)
    assert proc.poll() is None, "the run ended before it could be killed"
    assert len(workers) >= 3, workers  # fork server, 2 workers (and the resource tracker)
    proc.send_signal(signal.SIGKILL)  # the main process only
    proc.wait()
    assert not _gone_within(workers, 5.0)
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], 5.0)
    assert readable and proc.stdout.read() == b""  # EOF: nobody holds stdout any more


@pytest.mark.slow
def test_sigkill_of_a_parallel_export_ends_its_workers(server_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, "orphans")
    put_items(ddb, "orphans", [{"pk": {"S": f"k{i:05d}"}, "s": {"S": "x" * 50}}
                               for i in range(1500)])
    lake = tmp_path / "lake"
    proc = subprocess.Popen([DDBLAKE, "export", "orphans", "--lake", str(lake), "--workers",
                             "2", "--segments", "4", "--page-size", "10", "--target-file-mb",
                             "0.001", "-q", "--format", "json"],
                            env={**os.environ, **server_env}, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    _kill_main_and_check(proc, lambda: any(lake.glob("orphans/snapshots/*/data/*.parquet")))


@pytest.mark.slow
def test_sigkill_of_a_parallel_restore_ends_its_workers(server_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, "rsrc", sk=("sk", "S"))
    snapshot_items(tmp_path, "rsrc", list(sampledata.orders(3000)),
                   describe_table(ddb, "rsrc"), parts=4)
    proc = subprocess.Popen([DDBLAKE, "restore", "rsrc", "--lake", str(tmp_path), "--to",
                             "rdst", "--workers", "2", "--unit-rows", "100", "--threads", "1",
                             "-q", "--format", "json"],
                            env={**os.environ, **server_env}, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)

    def writing() -> bool:
        try:
            return bool(ddb.scan(TableName="rdst", Limit=1)["Items"])
        except ddb.exceptions.ResourceNotFoundException:
            return False

    _kill_main_and_check(proc, writing)
