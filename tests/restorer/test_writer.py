"""The batch writer's rules, against a recording sender (no AWS)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from restorer.config import RetryPolicy
from restorer.writer import BatchWriter
from runtime.capacity import TokenBucket
from schemas.dynamo_json import to_client
from schemas.errors import AwsError
from schemas.keys import KeyAttribute, KeySchema

KEYS = KeySchema(KeyAttribute("pk", "N"))


class Recorder:
    """Accepts batches; leaves the first ``unprocessed`` items of the first ``rounds``
    calls unprocessed, or raises ``error`` for the first ``rounds`` calls."""

    def __init__(self, rounds: int = 0, unprocessed: int = 0, error: str | None = None) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.rounds, self.unprocessed, self.error = rounds, unprocessed, error

    def batch_put(self, table: str, texts: list[bytes]) -> dict[str, Any]:
        items = [orjson.loads(t) for t in texts]
        self.batches.append(items)
        if len(self.batches) <= self.rounds:
            if self.error:
                raise ClientError({"Error": {"Code": self.error, "Message": "x"}},
                                  "BatchWriteItem")
            left = items[: self.unprocessed] if self.unprocessed >= 0 else items[1:]
            return {"UnprocessedItems": {table: [{"PutRequest": {"Item": to_client(i)}}
                                                 for i in left]} if left else {}}
        return {"UnprocessedItems": {}}


def _texts(values: list[str]) -> list[bytes]:
    return [orjson.dumps({"pk": {"N": v}, "v": {"S": str(i)}}) for i, v in enumerate(values)]


def _writer(sender: Any, sleeps: list[float] | None = None, **kw: Any) -> BatchWriter:
    recorded = sleeps if sleeps is not None else []
    return BatchWriter(sender, "t", KEYS, sleep=recorded.append, rng=random.Random(1), **kw)


def test_at_most_25_per_request_and_no_duplicate_keys_by_value() -> None:
    sender = Recorder()
    values = [str(i) for i in range(30)] + ["1.0", "2E+0", "1"]  # 1.0 == 1, 2E+0 == 2
    out = _writer(sender).write(_texts(values))
    assert out.written == len(values) and not out.dead
    assert all(len(b) <= 25 for b in sender.batches)
    for batch in sender.batches:
        from decimal import Decimal

        keys = [Decimal(i["pk"]["N"]) for i in batch]
        assert len(keys) == len(set(keys))
    assert sum(len(b) for b in sender.batches) == len(values)


def test_unprocessed_items_are_retried_with_growing_capped_jittered_backoff() -> None:
    sender = Recorder(rounds=6, unprocessed=25)  # whole batch unprocessed six times
    sleeps: list[float] = []
    policy = RetryPolicy(max_rounds=8, base_delay=1.0, max_delay=4.0)
    out = _writer(sender, sleeps, policy=policy).write(_texts([str(i) for i in range(25)]))
    assert out.written == 25 and out.retry_rounds == 6 and not out.dead
    ceilings = [min(4.0, 1.0 * 2 ** i) for i in range(1, 7)]
    assert all(0 <= s <= c for s, c in zip(sleeps, ceilings, strict=True))
    assert max(sleeps) <= 4.0 and len(set(sleeps)) == len(sleeps)  # jittered


def test_partial_progress_resets_the_round_count() -> None:
    sender = Recorder(rounds=100, unprocessed=-1)  # one item written per round
    policy = RetryPolicy(max_rounds=3, base_delay=0.0, max_delay=0.0)
    out = _writer(sender, policy=policy).write(_texts([str(i) for i in range(25)]))
    assert out.written == 25 and not out.dead and out.retry_rounds == 24


def test_retries_exhausted_become_dead_letters_not_drops() -> None:
    sender = Recorder(rounds=100, error="ProvisionedThroughputExceededException")
    policy = RetryPolicy(max_rounds=3, base_delay=0.0, max_delay=0.0)
    texts = _texts([str(i) for i in range(30)])
    out = _writer(sender, policy=policy).write(texts)
    assert out.written == 0 and sorted(t for t, _ in out.dead) == sorted(texts)
    assert len(sender.batches) == 6  # 2 batches x 3 rounds


def test_fatal_errors_raise_with_hint() -> None:
    sender = Recorder(rounds=1, error="ResourceNotFoundException")
    with pytest.raises(Exception) as e:
        _writer(sender).write(_texts(["1"]))
    assert e.value.__class__.__name__ == "NotFoundError"
    sender = Recorder(rounds=1, error="AccessDeniedException")
    with pytest.raises(AwsError):
        _writer(sender).write(_texts(["1"]))


def test_validation_exception_isolates_the_bad_item() -> None:
    class Picky(Recorder):
        def batch_put(self, table: str, texts: list[bytes]) -> dict[str, Any]:
            if any(b'"v":{"S":"3"}' in t for t in texts):
                self.batches.append([])
                raise ClientError({"Error": {"Code": "ValidationException",
                                             "Message": "bad gsi key"}}, "BatchWriteItem")
            return super().batch_put(table, texts)

    out = _writer(Picky()).write(_texts([str(i) for i in range(10)]))
    assert out.written == 9 and len(out.dead) == 1 and "bad gsi key" in out.dead[0][1]


def test_invalid_items_are_dead_letters_before_sending() -> None:
    sender = Recorder()
    texts = [*_texts(["1", "2"]), b'{"pk":{"N":"NaN"}}', b'{"nokey":{"S":"x"}}']
    out = _writer(sender).write(texts)
    assert out.written == 2 and len(out.dead) == 2
    assert sum(len(b) for b in sender.batches) == 2


def test_wcu_budget_paces_writes() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    budget = TokenBucket(10.0, clock=lambda: now[0], sleep=sleep)
    out = _writer(Recorder(), budget=budget).write(_texts([str(i) for i in range(50)]))
    assert out.written == 50
    # two batches of 25 one-unit items at 10 WCU/s with one second of burst: 1.5 s + 2.5 s
    assert slept == pytest.approx([1.5, 2.5])
