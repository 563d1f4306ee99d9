"""A real ``ddblake export`` subprocess (2 worker processes) against the moto server,
SIGKILLed (with its workers) at random points: never a visible partial snapshot, and
``--resume`` completes it with the digest of an uninterrupted export."""

from __future__ import annotations

import contextlib
import hashlib
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

from lake import catalog, layout
from lake.fileio import LocalFileIO
from tests.helpers import REGION, create_table, put_items

DDBLAKE = str(Path(sys.executable).with_name("ddblake"))
SEEDS = range(10)
ARGS = ["--workers", "2", "--segments", "4", "--page-size", "20", "--target-file-mb", "0.001",
        "-q", "--format", "json"]


def _export(lake: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DDBLAKE, "export", "crashy", "--lake", str(lake), *ARGS, *extra],
                          env=env, capture_output=True, text=True, timeout=120)


def _verify_visible(lake: Path) -> list[str]:
    """Every committed snapshot is whole: each part is there with its sha256."""
    io = LocalFileIO(lake)
    digests = []
    for manifest in catalog.list_snapshots(io, "crashy"):
        for part in manifest.parts:
            path = lake / layout.snapshot_part("crashy", manifest.snapshot_id, part.path)
            assert hashlib.sha256(path.read_bytes()).hexdigest() == part.sha256
        digests.append(manifest.totals.content_digest)
    return digests


def _wait_for_state(lake: Path, proc: subprocess.Popen[Any]) -> None:
    """Wait until the export has saved its state (its segments are about to run)."""
    while not any((lake / "crashy" / "state").glob("*")) and proc.poll() is None:
        time.sleep(0.01)


@pytest.mark.slow
def test_sigkill_then_resume(server_env: dict[str, str], tmp_path: Path) -> None:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, "crashy")
    put_items(ddb, "crashy", [{"pk": {"S": f"k{i:05d}"}, "n": {"N": str(i)},
                               "s": {"S": "text " * (1 + i % 9)}} for i in range(300)])
    env = {**os.environ, **server_env}
    clean = subprocess.Popen([DDBLAKE, "export", "crashy", "--lake", str(tmp_path / "clean"),
                              *ARGS], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    _wait_for_state(tmp_path / "clean", clean)
    started = time.monotonic()
    stdout, stderr = clean.communicate(timeout=120)
    scan_seconds = time.monotonic() - started
    assert clean.returncode == 0, stderr
    reference = json.loads(stdout)["content_digest"]
    outcomes = []
    for seed in SEEDS:
        lake = tmp_path / f"lake-{seed}"
        proc = subprocess.Popen([DDBLAKE, "export", "crashy", "--lake", str(lake), *ARGS],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        _wait_for_state(lake, proc)  # kill while segments run, not during start-up
        time.sleep(random.Random(seed).uniform(0.0, 0.9) * scan_seconds)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the process and its workers die at once
        proc.wait(30)
        visible = _verify_visible(lake)
        if visible:  # killed after the commit: complete, nothing to resume
            assert visible == [reference]
            outcomes.append("committed")
            continue
        resumed = _export(lake, env, "--resume", "--workers", "1")
        if resumed.returncode == 5 and "no interrupted export" in resumed.stderr:
            outcomes.append("before-start")  # killed before any state was saved
            continue
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads(resumed.stdout)
        assert summary["resumed"] and summary["content_digest"] == reference
        assert _verify_visible(lake) == [reference]
        outcomes.append("resumed")
    print(f"uninterrupted export: {scan_seconds:.1f}s after its state appeared; {outcomes}")
    assert outcomes.count("resumed") >= 5, outcomes
