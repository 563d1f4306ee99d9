"""Two ``ddblake export --resume`` of one interrupted export at once (real subprocesses
against the moto server): the second is refused (exit 10) naming the first, and whether the
first finishes or is SIGKILLed, the export ends committed once with the content digest of
an uninterrupted export."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest

from exporter import ExportConfig, export_table
from exporter.state import export_lock_key, pending_exports
from lake import catalog
from lake.fileio import LocalFileIO
from schemas.errors import RetriesExceeded
from tests.exporter.support import FaultInjector, no_backoff
from tests.helpers import REGION, create_table, put_items

pytestmark = pytest.mark.slow
DDBLAKE = str(Path(sys.executable).with_name("ddblake"))
# ~1 page a second (moto charges 1 RCU a page): the holder runs for many seconds
SLOW = ["--workers", "2", "--segments", "4", "--page-size", "10", "--target-file-mb", "0.001",
        "--max-rcu", "1", "-q", "--format", "json"]


def _config(lake: Path, table: str, **kwargs: Any) -> ExportConfig:
    return ExportConfig(table=table, lake=str(lake), workers=1, segments=4, page_limit=10,
                        target_part_mb=0.001, **kwargs)


def _interrupted(table: str, lake: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An export of ``table`` that stopped after a few pages (sustained throttling)."""
    no_backoff(monkeypatch)
    session = boto3.Session(region_name=REGION)
    session.events.register_first("before-send.dynamodb.Scan",
                                  FaultInjector(after=6, forever="throttle"))
    with pytest.raises(RetriesExceeded):
        export_table(_config(lake, table, retry_deadline_s=0.05), session=session)
    [pending] = pending_exports(LocalFileIO(lake), table)
    return pending


def _holder(lake: Path, table: str, snapshot_id: str) -> int | None:
    path = lake / export_lock_key(table, snapshot_id)
    try:
        return int(orjson.loads(path.read_bytes())["owner"]["pid"])
    except (OSError, ValueError, KeyError):
        return None


def _resume(table: str, lake: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([DDBLAKE, "export", table, "--lake", str(lake), "--resume",
                             *SLOW], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


@pytest.mark.parametrize("first", ["finishes", "is-killed"])
def test_second_resume_is_refused_and_the_export_completes(
        server_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        first: str) -> None:
    table = f"twice-{first}"
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, table)
    put_items(ddb, table, [{"pk": {"S": f"k{i:05d}"}, "n": {"N": str(i)},
                            "s": {"S": "text " * (1 + i % 9)}} for i in range(200)])
    reference = export_table(_config(tmp_path / "clean", table)).manifest.totals.content_digest
    lake = tmp_path / "lake"
    pending = _interrupted(table, lake, monkeypatch)
    env = {**os.environ, **server_env}

    a = _resume(table, lake, env)
    deadline = time.monotonic() + 60
    while _holder(lake, table, pending) != a.pid and a.poll() is None:
        assert time.monotonic() < deadline, "the first resume never took the lock"
        time.sleep(0.05)
    b = subprocess.run([DDBLAKE, "export", table, "--lake", str(lake), "--resume", *SLOW],
                       env=env, capture_output=True, text=True, timeout=120)
    assert a.poll() is None, "the first resume ended before the second was tried"
    assert b.returncode == 10, b.stderr
    assert (f"error: export {pending} of table {table} is already being run by ddblake export "
            f"(pid {a.pid} on host ") in b.stderr
    assert "hint: wait for that run to end" in b.stderr and "Traceback" not in b.stderr

    if first == "finishes":
        out, err = a.communicate(timeout=240)
        assert a.returncode == 0, err
        assert json.loads(out)["content_digest"] == reference
        later = subprocess.run([DDBLAKE, "export", table, "--lake", str(lake), "--resume",
                                *SLOW], env=env, capture_output=True, text=True, timeout=120)
        assert later.returncode == 5 and "no interrupted export" in later.stderr
    else:
        time.sleep(1.0)  # let it write a part or two more
        with contextlib.suppress(ProcessLookupError):
            os.killpg(a.pid, signal.SIGKILL)  # the run and its workers
        a.wait(30)
        later = subprocess.run([DDBLAKE, "export", table, "--lake", str(lake), "--resume",
                                "--workers", "1", "-q", "--format", "json"], env=env,
                               capture_output=True, text=True, timeout=240)
        assert later.returncode == 0, later.stderr
        summary = json.loads(later.stdout)
        assert summary["resumed"] and summary["content_digest"] == reference
    io = LocalFileIO(lake)
    [manifest] = catalog.list_snapshots(io, table)
    assert manifest.snapshot_id == pending and manifest.totals.content_digest == reference
    assert pending_exports(io, table) == []  # state and lock gone
