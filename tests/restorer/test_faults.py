"""Faults injected through botocore hooks: every item still arrives, or the restore fails
loudly with exactly the missing items in dead-letter files, and --resume completes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from restorer import RestoreConfig, RetryPolicy, restore
from restorer.config import RestoreIncomplete
from schemas.dynamo_json import from_client, to_client, value_key
from tests.helpers import REGION, create_table, put_items, scan_all
from tests.restorer.faults import FaultPlan, Throttler, Unprocessor
from tests.restorer.lakehelp import snapshot_table

N = 120


@pytest.fixture(autouse=True)
def _fast_botocore_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.0)


@pytest.fixture
def session(aws: None, lake_dir: Path) -> boto3.Session:
    session = boto3.Session(region_name=REGION)
    ddb = session.client("dynamodb")
    create_table(ddb, "src")
    put_items(ddb, "src", [{"pk": {"S": f"k{i:04d}"}, "n": {"N": f"{i}.5"}} for i in range(N)])
    snapshot_table(ddb, lake_dir, "src")
    return session


def _config(lake: Path, **kw: Any) -> RestoreConfig:
    return RestoreConfig(lake=str(lake), target="dst", unit_rows=40, threads=1,
                         retry=RetryPolicy(max_rounds=4, base_delay=0.0, max_delay=0.0), **kw)


def _same(session: Any) -> bool:
    ddb = session.client("dynamodb")
    src = {value_key(from_client(i)) for i in scan_all(ddb, "src")}
    dst = {value_key(from_client(i)) for i in scan_all(ddb, "dst")}
    return src == dst and len(dst) == N


def test_unprocessed_items_for_several_rounds(session: Any, lake_dir: Path) -> None:
    unprocessor = Unprocessor(k=3, rounds=6)
    unprocessor.install(session.events)
    result = restore(_config(lake_dir), session=session)
    assert unprocessor.dropped > 0 and result.retry_rounds >= 3
    assert result.ok and result.written == N and _same(session)


def test_all_unprocessed_becomes_throughput_exception(session: Any, lake_dir: Path) -> None:
    unprocessor = Unprocessor(k=1, rounds=12)  # every request dropped -> PTEE, 12 times
    unprocessor.install(session.events)
    result = restore(_config(lake_dir), session=session)
    assert result.ok and _same(session)
    assert result.retry_rounds >= 1  # 12 PTEEs outlast botocore's 8 attempts once


@pytest.mark.parametrize("fault", ["500", "503", "reset", "throttle"])
def test_transient_faults(session: Any, lake_dir: Path, fault: str) -> None:
    plan = FaultPlan([fault, fault, None, fault] * 3)
    session.events.register_first("before-send.dynamodb.BatchWriteItem", plan)
    result = restore(_config(lake_dir), session=session)
    assert plan.calls > 12 and result.ok and _same(session)


def test_sustained_throttling_dead_letters_then_resume(session: Any, lake_dir: Path) -> None:
    victims = {"k0007", "k0050", "k0111"}
    throttler = Throttler("pk", victims)
    session.events.register_first("before-send.dynamodb.BatchWriteItem", throttler)
    with pytest.raises(RestoreIncomplete) as e:
        restore(_config(lake_dir), session=session)
    result = e.value.result
    assert e.value.exit_code == 9 and result.dead_letters > 0 and throttler.calls > 0
    ddb = session.client("dynamodb")
    present = {i["pk"]["S"] for i in scan_all(ddb, "dst")}
    missing = {f"k{i:04d}" for i in range(N)} - present
    assert victims <= missing
    assert result.dead_letter_uri is not None
    lines = [json.loads(line) for p in Path(result.dead_letter_uri).glob("*.jsonl")
             for line in p.read_text().splitlines()]
    assert sorted(line["item"]["pk"]["S"] for line in lines) == sorted(missing)
    assert all("ProvisionedThroughputExceededException" in line["error"] for line in lines)
    assert result.dead_letters == len(missing) == len(lines)

    throttler.active = False
    resumed = restore(_config(lake_dir, resume=True), session=session)
    assert resumed.restore_id == result.restore_id
    assert resumed.ok and resumed.dead_letters == 0 and resumed.units_resumed > 0
    assert _same(session)
    assert not list(Path(result.dead_letter_uri).glob("*.jsonl"))


def test_resume_after_success_changes_nothing(session: Any, lake_dir: Path) -> None:
    first = restore(_config(lake_dir), session=session)
    again = restore(_config(lake_dir, resume=True), session=session)
    assert again.restore_id == first.restore_id and again.ok and _same(session)
    assert again.units_resumed == again.units and again.requests == first.requests
    fresh = restore(_config(lake_dir, existing=True), session=session)
    assert fresh.restore_id != first.restore_id and fresh.ok and _same(session)


def test_put_if_absent_survives_throttling(session: Any, lake_dir: Path) -> None:
    ddb = session.client("dynamodb")
    create_table(ddb, "dst")
    plan = FaultPlan(["throttle"] * 10 + [None, "500"] * 5)
    session.events.register_first("before-send.dynamodb.PutItem", plan)
    result = restore(_config(lake_dir, existing=True, mode="put-if-absent"), session=session)
    assert result.ok and result.written == N and _same(session)


def test_unused_placeholder_never_reaches_the_table(session: Any, lake_dir: Path) -> None:
    restore(_config(lake_dir), session=session)
    items = scan_all(session.client("dynamodb"), "dst")
    assert not any(name.startswith("__ddblake") for i in items for name in i)
    assert put_items is not None and to_client is not None
