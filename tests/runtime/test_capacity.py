"""The one capacity limiter (a token bucket shared by every worker of a run), with a fake
clock; the export charges it (moto always reports 1.0 consumed)."""

from __future__ import annotations

import multiprocessing
import pickle
from pathlib import Path
from typing import Any

import boto3
import pytest

from exporter import ExportConfig, export_table
from runtime.capacity import Budgets, TokenBucket
from runtime.executor import SerialExecutor
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


def test_take_paces_costs_known_in_advance() -> None:
    fake = FakeTime()
    bucket = TokenBucket(10.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        bucket.take(10)
    assert sum(fake.slept) == pytest.approx(4.0)  # 50 units at 10/s with one second of burst


def test_a_bucket_of_one_process_refuses_to_travel() -> None:
    with pytest.raises(TypeError, match="multiprocessing context"):
        pickle.dumps(TokenBucket(1.0))


def test_budgets_are_positive() -> None:
    with pytest.raises(ValueError, match="write budget"):
        Budgets(write=0)


def test_bucket_is_shared_with_worker_processes() -> None:
    ctx = multiprocessing.get_context("spawn")
    bucket = TokenBucket(1.0, burst=1000.0, context=ctx)
    children = [ctx.Process(target=_consume_in_child, args=(bucket, 300.0)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert bucket.balance < 1000.0 - 600.0 + 60.0


def test_export_charges_consumed_capacity(ddb: Any, lake_dir: Path) -> None:
    create_table(ddb, "limited")
    put_items(ddb, "limited", [{"pk": {"S": f"k{i}"}} for i in range(40)])
    fake = FakeTime()
    config = ExportConfig(table="limited", lake=str(lake_dir), workers=1, segments=2,
                          page_limit=4, max_rcu=0.5)
    result = export_table(config, session=boto3.Session(region_name=REGION),
                          executor=SerialExecutor(clock=fake.clock, sleep=fake.sleep))
    pages = result.stats["pages"]
    assert pages >= 10 and result.consumed_rcu == pytest.approx(pages * 1.0)  # moto: 1.0/page
    # every page costs 1 RCU at 0.5 RCU/s: the export waited about 2 s per page
    assert (pages - 2) * 2.0 <= sum(fake.slept) <= pages * 2.0
