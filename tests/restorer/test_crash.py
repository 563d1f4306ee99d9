"""A restore SIGKILLed at random points (a real subprocess against the moto server) and
resumed ends equal to an uninterrupted one."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddblake import sampledata
from lake.fileio import LocalFileIO
from restorer.journal import find_resumable
from schemas.dynamo_json import from_client, to_client, value_key
from tests.helpers import REGION, create_table, put_items, scan_all
from tests.restorer.lakehelp import snapshot_table

pytestmark = pytest.mark.slow
N = 400


def _ddblake(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from ddblake.cli import main; main()", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_first_items(ddb: Any, table: str, victim: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and victim.poll() is None:
        if table in ddb.list_tables()["TableNames"] and \
                ddb.scan(TableName=table, Select="COUNT", Limit=5)["Count"]:
            return
        time.sleep(0.1)


def _journaled_written(lake: Path, target: str) -> int:
    """Items the units finished by earlier runs wrote, per the journal (0 if none)."""
    journal = find_resumable(LocalFileIO(lake), "crashsrc", target)
    return sum(r.written for r in journal.done.values()) if journal else 0


def _values(ddb: Any, table: str) -> set[Any]:
    return {value_key(from_client(i)) for i in scan_all(ddb, table)}


@pytest.fixture
def setup(server_env: dict[str, str], lake_dir: Path) -> dict[str, Any]:
    ddb = boto3.client("dynamodb", region_name=REGION)
    if "crashsrc" not in ddb.list_tables()["TableNames"]:  # the moto server is shared
        create_table(ddb, "crashsrc", sk=("sk", "S"))
    put_items(ddb, "crashsrc", [to_client(i) for i in sampledata.orders(N)])
    snapshot_table(ddb, lake_dir, "crashsrc", parts=4)
    env = {**os.environ, **server_env, "PYTHONPATH": str(Path(__file__).parents[2])}
    return {"ddb": ddb, "env": env}


def test_sigkill_then_resume_equals_uninterrupted(setup: dict[str, Any],
                                                  lake_dir: Path) -> None:
    ddb, env = setup["ddb"], setup["env"]
    base = ["restore", "crashsrc", "--lake", str(lake_dir), "--threads", "2", "--unit-rows", "50",
            "--max-wcu", "150",
            "-q"]
    clean = _ddblake([*base, "--to", "clean"], env)
    _, err = clean.communicate(timeout=170)
    assert clean.returncode == 0, err.decode()
    expected = _values(ddb, "clean")
    assert len(expected) == N
    rng = random.Random(20261122)
    mid_write = 0
    for seed in range(4):
        if seed >= 3 and mid_write:
            break
        target = f"crashed-{seed}"
        victim = _ddblake([*base, "--to", target], env)
        _wait_for_first_items(ddb, target, victim)
        time.sleep(rng.uniform(0.0, 1.0))  # somewhere in the (paced) writing phase
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        if target in ddb.list_tables()["TableNames"]:
            mid_write += 0 < len(scan_all(ddb, target)) < N
        earlier = _journaled_written(lake_dir, target)
        resumed = _ddblake([*base, "--to", target, "--resume", "--format", "json"], env)
        out, err = resumed.communicate(timeout=170)
        assert resumed.returncode == 0, err.decode()
        assert _values(ddb, target) == expected
        summary = json.loads(out)  # units the killed run finished are its; the rest ours
        assert (summary["written_earlier"], summary["written"]) == (earlier, N - earlier)
        assert summary["skipped_existing"] == 0
    assert mid_write >= 1  # at least one kill landed while items were being written


def test_sigkill_then_resume_counts_exactly(setup: dict[str, Any], lake_dir: Path) -> None:
    """put-if-absent into a table that held some of the keys already (some equal to the
    snapshot's items, some not): after a SIGKILL mid-write, the resumed run's summary says
    exactly which items were there before, which the killed run wrote, and which it wrote."""
    ddb, env = setup["ddb"], setup["env"]
    source = [from_client(i) for i in scan_all(ddb, "crashsrc")]
    create_table(ddb, "counted", sk=("sk", "S"))
    before = source[::11]  # 37 keys: every other one changed
    changed = [dict(item, note={"S": "changed"}) if n % 2 else item
               for n, item in enumerate(before)]
    put_items(ddb, "counted", [to_client(i) for i in changed])
    args = ["restore", "crashsrc", "--lake", str(lake_dir), "--to", "counted", "--existing",
            "--mode", "put-if-absent", "--unit-rows", "50", "--max-wcu", "40", "-q"]
    victim = _ddblake(args, env)
    deadline = time.monotonic() + 120
    while len(scan_all(ddb, "counted")) < len(before) + 60 and victim.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    by_killed_run = len(scan_all(ddb, "counted")) - len(before)
    assert 0 < by_killed_run < N - len(before), "the kill did not land mid-write"
    resumed = _ddblake([*args, "--resume", "--format", "json"], env)
    out, err = resumed.communicate(timeout=170)
    assert resumed.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["skipped_existing"] == len(before)
    assert summary["written_earlier"] == by_killed_run
    assert summary["written"] == N - len(before) - by_killed_run
    assert summary["selected"] == N and summary["dead_letters"] == 0
    expected = {value_key(i) for i in source} - {value_key(i) for i in before} \
        | {value_key(i) for i in changed}
    assert _values(ddb, "counted") == expected  # what was there before stayed as it was
