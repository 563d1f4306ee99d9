"""``ddblake stream`` as a user runs it: in-process, and as a process killed mid-batch."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from lake.aws import make_client
from lake.fileio import LocalFileIO
from tests.changes.conftest import STREAM
from tests.changes.lakeread import committed_rows
from tests.helpers import REGION, create_table
from tests.helpers import run_cli as cli


def test_stream_once_prints_a_summary(clients: Any, streamed_table: str, lake_dir: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    ddb = clients[0]
    for n in range(3):
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}, "sk": {"N": str(n)}})
    code, out, _ = cli(capsys, "stream", "orders", "--lake", str(lake_dir), "--once",
                       "--poll-seconds", "0", "--format", "json", "-q")
    report = json.loads(out)
    assert code == 0 and report["records"] == 3 and report["batches"] == 1
    assert report["gaps"] == "none" and report["stopped"] == "caught up"


def test_stream_without_stream_exits_2_with_hint(clients: Any, lake_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    create_table(clients[0], "plain")
    code, _, err = cli(capsys, "stream", "plain", "--lake", str(lake_dir), "--once")
    assert code == 2
    assert "error: table plain has no DynamoDB stream" in err
    assert "hint: enable one: aws dynamodb update-table --table-name plain" in err


def _consumer(lake: Path, table: str, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    args = [str(Path(sys.executable).parent / "ddblake"), "stream", table, "--lake", str(lake),
            "--flush-records", "3", "--flush-seconds", "0.2", "--poll-seconds", "0.05", "-q",
            *extra]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.slow
def test_killed_consumer_loses_and_duplicates_nothing(server_env: dict[str, str],
                                                      lake_dir: Path) -> None:
    session = boto3.Session(region_name=REGION)
    ddb = make_client("dynamodb", session)
    table = f"crash-{uuid.uuid4().hex[:8]}"
    create_table(ddb, table, StreamSpecification=STREAM)
    env = {**os.environ, **server_env}
    rng = random.Random(7)
    written = 0
    manifests = lake_dir / table / "changes" / "_manifests"
    landed_mid_work = []
    for _round in range(3):
        process = _consumer(lake_dir, table, env)
        committed = len(list(manifests.glob("*.json"))) if manifests.exists() else 0
        deadline = time.monotonic() + 60
        kill_at = None
        while True:
            ddb.put_item(TableName=table, Item={"pk": {"S": f"k{written:04d}"}})
            written += 1
            if kill_at is not None and time.monotonic() >= kill_at:
                break  # kill right after a put: that record cannot have been committed yet
            time.sleep(0.01)
            now_committed = len(list(manifests.glob("*.json"))) if manifests.exists() else 0
            if kill_at is None and now_committed > committed:  # it is working: kill it soon
                kill_at = time.monotonic() + rng.uniform(0.0, 0.6)
            assert time.monotonic() < deadline, "the consumer never committed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        landed_mid_work.append(0 < len(committed_rows(LocalFileIO(lake_dir), table)) < written)
    assert any(landed_mid_work), "the kills did not land while the consumer worked"
    final = _consumer(lake_dir, table, env, "--once")
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    rows = committed_rows(LocalFileIO(lake_dir), table)
    seqs = [r["_seq"] for r in rows]
    assert len(seqs) == len(set(seqs)), "a record was committed twice"
    keys = sorted(json.loads(r["_keys"])["pk"]["S"] for r in rows)
    assert keys == [f"k{n:04d}" for n in range(written)], "a record was lost"


def test_coverage_command_lists_log_and_gaps(clients: Any, streamed_table: str, lake_dir: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    clients[0].put_item(TableName="orders", Item={"pk": {"S": "a"}, "sk": {"N": "1"}})
    cli(capsys, "stream", "orders", "--lake", str(lake_dir), "--once", "--poll-seconds", "0",
        "-q")
    code, out, _ = cli(capsys, "coverage", "--lake", str(lake_dir), "--format", "json")
    rows = json.loads(out)
    assert code == 0
    assert [(r["table"], r["what"]) for r in rows] == [("orders", "change log")]
    assert rows[0]["from"] <= rows[0]["to"]
