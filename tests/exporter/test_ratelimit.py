"""The shared token bucket, with a fake clock (moto always reports 1.0 consumed)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import boto3
import pytest

import exporter.scan_export as scan_export
from exporter import ExportConfig, export_table
from exporter.ratelimit import TokenBucket
from tests.helpers import REGION, create_table, put_items


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_holds_the_average_rate() -> None:
    fake = FakeTime()
    bucket = TokenBucket(100.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(50):  # 50 pages of 128 RCU = 6400 RCU
        bucket.acquire()
        bucket.consume(128.0)
    # the first 100 were banked; the other 6300 - 128 (last debt is never waited for)
    elapsed = fake.now - 1000.0
    assert 6400 - 100 - 128 <= elapsed * 100 <= 6400
    assert max(fake.slept) <= 5.0


def test_bucket_lets_requests_through_while_positive() -> None:
    fake = FakeTime()
    bucket = TokenBucket(10.0, burst=30.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        assert bucket.acquire() == 0.0
        bucket.consume(9.0)
    assert bucket.acquire() == 0.0  # 3 left
    bucket.consume(13.0)  # -10
    waited = bucket.acquire()
    assert waited == pytest.approx(1.0, abs=0.01)
    fake.now += 100
    assert bucket.balance == 30.0  # never banks more than the burst


def _consume_in_child(bucket: TokenBucket, units: float) -> None:
    bucket.consume(units)


def test_bucket_is_shared_with_worker_processes() -> None:
    bucket = TokenBucket(1.0, burst=1000.0)
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=_consume_in_child, args=(bucket, 300.0)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert bucket.balance < 1000.0 - 600.0 + 60.0


def test_export_charges_consumed_capacity(ddb: Any, lake_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    create_table(ddb, "limited")
    put_items(ddb, "limited", [{"pk": {"S": f"k{i}"}} for i in range(40)])
    fake = FakeTime()
    made: list[TokenBucket] = []

    def fake_bucket(rate: float) -> TokenBucket:
        made.append(TokenBucket(rate, clock=fake.clock, sleep=fake.sleep))
        return made[-1]

    monkeypatch.setattr(scan_export, "TokenBucket", fake_bucket)
    config = ExportConfig(table="limited", lake=str(lake_dir), workers=1, segments=2,
                          page_limit=4, max_rcu=0.5)
    result = export_table(config, session=boto3.Session(region_name=REGION))
    pages = result.stats["pages"]
    assert pages >= 10 and result.consumed_rcu == pytest.approx(pages * 1.0)  # moto: 1.0/page
    # every page costs 1 RCU at 0.5 RCU/s: the export waited about 2 s per page
    assert (pages - 2) * 2.0 <= sum(fake.slept) <= pages * 2.0
