"""The job lock: one run of an export or restore at a time; free again however the holder
ends. flock(2) on a local lake, a renewed conditional-put lease on S3 (moto)."""

from __future__ import annotations

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

from lake.fileio import LocalFileIO, S3FileIO, load_file_io
from lake.joblock import S3Lease, acquire
from schemas.errors import BusyError
from tests.helpers import REGION

KEY = "t/state/exports/20261207T000000Z-abc/lock.json"
HOLD = """
import sys, time
from lake.fileio import LocalFileIO
from lake.joblock import acquire
lock = acquire(LocalFileIO(sys.argv[1]), sys.argv[2], job="export X", command="export")
print("held", flush=True)
time.sleep(120)
"""


def _take(io: Any, **kw: Any) -> Any:
    return acquire(io, KEY, job="export X of table t", command="export", **kw)


def test_local_second_run_is_refused_until_released(tmp_path: Path) -> None:
    io = LocalFileIO(tmp_path)
    first = _take(io)
    with pytest.raises(BusyError) as e:
        _take(io)
    assert e.value.exit_code == 10
    assert f"export X of table t is already being run by ddblake export (pid {os.getpid()} " \
           "on host " in e.value.message
    assert str(tmp_path / KEY) in (e.value.hint or "")
    first.release()
    second = _take(io)  # the file stayed; the lock did not
    second.release(delete=True)
    assert not (tmp_path / KEY).exists()
    _take(io).release()


def test_local_lock_of_a_killed_holder_is_free(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), KEY], env=env,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    io = LocalFileIO(tmp_path)
    with pytest.raises(BusyError) as e:
        _take(io)
    assert f"(pid {holder.pid} on host" in e.value.message
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    _take(io).release()  # no stale-owner rule needed: the kernel dropped it


@pytest.fixture
def s3_io(aws: None) -> S3FileIO:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="lease-lake")
    io = load_file_io("s3://lease-lake/lake", s3_client=s3)
    assert isinstance(io, S3FileIO)
    return io


def _lease(s3_io: S3FileIO) -> dict[str, Any]:
    return dict(orjson.loads(s3_io.read(KEY)))


def test_s3_lease_refuses_while_renewed_past_its_ttl(s3_io: S3FileIO) -> None:
    first = _take(s3_io, ttl_s=1.0)
    time.sleep(2.5)  # more than its ttl: only renewals keep it
    with pytest.raises(BusyError) as e:
        _take(s3_io)
    assert "already being run by ddblake export" in e.value.message
    first.check()  # still ours
    first.release()
    assert _lease(s3_io)["state"] == "released"
    _take(s3_io).release(delete=True)
    assert not s3_io.exists(KEY)


def test_s3_stale_lease_is_taken_over_and_its_holder_knows(s3_io: S3FileIO) -> None:
    frozen = _take(s3_io, ttl_s=1.0)
    assert isinstance(frozen, S3Lease)
    frozen._stop.set()  # a holder that stopped renewing (died, or hung)
    frozen._thread.join()
    time.sleep(2.2)  # > ttl by S3's clock (LastModified has one-second resolution)
    taker = _take(s3_io)
    assert _lease(s3_io)["owner"]["token"] == taker.owner.token
    with pytest.raises(BusyError, match="lost the lock"):
        frozen.check()
    taker.release()


def test_s3_unreadable_lease_is_stale_only_by_age(s3_io: S3FileIO) -> None:
    s3_io.write(KEY, b"\x00 not a lease")
    with pytest.raises(BusyError) as e:
        _take(s3_io)
    assert "another run" in e.value.message  # no owner to name
