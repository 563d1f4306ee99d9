"""Our own batch writer (boto3's BatchWriter retries UnprocessedItems at once and forever).

- 25 puts per BatchWriteItem, never two items with the same key (by DynamoDB value) in one;
- every item checked against DynamoDB's limits before it is sent;
- UnprocessedItems, throttling (including the all-unprocessed PTEE) and 5xx/resets that
  outlast botocore's own retries are retried in rounds with full-jitter exponential backoff
  and a cap (:class:`RetryPolicy`); what is still unwritten after that is returned as dead
  letters, never dropped;
- an optional write-capacity budget (``max_wcu``): the run's one bucket
  (:mod:`runtime.capacity`), shared by the writer's threads and every other worker;
- ``put-if-absent`` writes each item with a conditional PutItem; one whose key is taken is
  counted by whose it is (:mod:`restorer.origin`): there before the restore
  (``skipped_existing``), written by an earlier run of it (``already_written``), or this
  run's own item whose response was lost and whose retry found it (``written``, once).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from lake.aws import error_code
from restorer.config import Mode, RetryPolicy
from restorer.transport import access_error
from runtime.capacity import Limiter
from runtime.threads import bounded_map
from schemas.dynamo_json import Item, from_client, normalize_number
from schemas.errors import ItemValidationError
from schemas.keys import KeySchema
from schemas.limits import validate_item

if TYPE_CHECKING:
    from restorer.origin import KeyOrigins

BATCH_SIZE = 25
RETRYABLE = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "LimitExceededException",
    "TransactionInProgressException",
})
Sleep = Callable[[float], None]


class Sender(Protocol):
    """Sends pre-serialized writes (:mod:`restorer.transport` or :mod:`restorer.rawhttp`)."""

    def batch_put(self, table: str, texts: list[bytes]) -> dict[str, Any]: ...

    def put_if_absent(self, table: str, text: bytes, partition_key: str) -> None: ...


@dataclass
class Entry:
    """An item ready to send: its wire text, its key (:func:`key_tuple`) and its write
    units (0 when not computed: only items checked in Python have it, and only a writer
    with a WCU budget needs it)."""

    text: bytes
    key: tuple[str, ...]
    wcu: int


@dataclass
class Outcome:
    """What writing one stream of items did. Every selected item is counted once: written
    (by this run), already written (by an earlier run of the same restore), skipped as
    existing (before the restore) or as expired, or dead."""

    selected: int = 0
    written: int = 0
    already_written: int = 0
    skipped_existing: int = 0
    skipped_expired: int = 0
    requests: int = 0
    retry_rounds: int = 0
    dead: list[tuple[bytes, str]] = field(default_factory=list)

    def merge(self, other: Outcome) -> None:
        self.written += other.written
        self.already_written += other.already_written
        self.skipped_existing += other.skipped_existing
        self.requests += other.requests
        self.retry_rounds += other.retry_rounds
        self.dead.extend(other.dead)


def key_tuple(item: Item, keys: KeySchema) -> tuple[str, ...]:
    """A key compared by DynamoDB value (N normalized)."""
    out = []
    for attr in keys.attributes:
        (tag, inner), = item[attr.name].items()
        out.append(normalize_number(inner) if tag == "N" else f"{tag}:{inner}")
    return tuple(out)


def _expired(item: Item, ttl_attribute: str | None, now: float) -> bool:
    if not ttl_attribute:
        return False
    value = item.get(ttl_attribute)
    if not value or "N" not in value:
        return False  # DynamoDB ignores TTL values that are not numbers
    try:
        return float(value["N"]) < now
    except ValueError:
        return False


@dataclass
class BatchWriter:
    sender: Sender
    table: str
    keys: KeySchema
    mode: Mode = "put"
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    budget: Limiter | None = None
    threads: int = 1
    ttl_attribute: str | None = None
    now: float | None = None
    sleep: Sleep = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    origins: KeyOrigins | None = None

    def write(self, texts: Iterable[bytes | Entry]) -> Outcome:
        """Write every item; return counts and dead letters. Texts are parsed and checked
        against DynamoDB's limits here; an Entry was checked by its maker
        (:mod:`restorer.rows`) and is sent as it is. Batches go out on ``threads`` threads
        (:func:`runtime.threads.bounded_map`: at most ``2 * threads`` in flight)."""
        total = Outcome()
        for out in bounded_map(self._send, self._batches(texts, total), self.threads):
            total.merge(out)
        return total

    def _batches(self, texts: Iterable[bytes | Entry], total: Outcome) -> Iterator[list[Entry]]:
        """Batches of at most 25 items, never two with the same key."""
        batch: list[Entry] = []
        seen: set[tuple[str, ...]] = set()
        for text in texts:
            total.selected += 1
            entry = self._prepare(text, total)
            if entry is None:
                continue
            if entry.key in seen or len(batch) == BATCH_SIZE:
                yield batch
                batch, seen = [], set()
            batch.append(entry)
            seen.add(entry.key)
        if batch:
            yield batch

    def _prepare(self, text: bytes | Entry, total: Outcome) -> Entry | None:
        if isinstance(text, Entry):
            if text.wcu or self.budget is None:
                return text
            text = text.text  # a budget needs its exact size: check it here
        try:
            item = orjson.loads(text)
            size = validate_item(item, self.keys)
        except (ItemValidationError, orjson.JSONDecodeError) as e:
            total.dead.append((text, f"invalid item: {e}"))
            return None
        if _expired(item, self.ttl_attribute, self.now or time.time()):
            total.skipped_expired += 1
            return None
        return Entry(text, key_tuple(item, self.keys), max(1, math.ceil(size / 1024)))

    def _send(self, batch: list[Entry]) -> Outcome:
        if self.mode == "put-if-absent":
            out = Outcome()
            for entry in batch:
                out.merge(self._put_if_absent(entry))
            return out
        return self._batch(batch)

    def _backoff(self, rounds: int) -> None:
        ceiling = min(self.policy.max_delay, self.policy.base_delay * (2 ** rounds))
        self.sleep(self.rng.uniform(0, ceiling))

    def _written(self, out: Outcome, entries: Iterable[Entry]) -> None:
        out.written += sum(1 for _ in entries)

    def _batch(self, batch: list[Entry]) -> Outcome:
        out = Outcome()
        pending, stalled, last = batch, 0, ""
        while pending:
            if self.budget is not None:
                self.budget.take(sum(e.wcu for e in pending))
            out.requests += 1
            try:
                response = self.sender.batch_put(self.table, [e.text for e in pending])
                left = self._unprocessed(response, pending)
                last = "UnprocessedItems"
            except ClientError as e:
                code = error_code(e)
                if code == "ValidationException" and len(pending) > 1:
                    out.merge(self._isolate(pending))
                    return out
                if code == "ValidationException":
                    message = e.response.get("Error", {}).get("Message", "")
                    out.dead.append((pending[0].text, f"rejected by DynamoDB: {code}: {message}"))
                    return out
                if code not in RETRYABLE and not code.startswith("5"):
                    raise access_error(e, self.table, doing="write to") from e
                left, last = pending, code
            except BotoCoreError as e:  # connection errors that outlasted botocore's retries
                left, last = pending, type(e).__name__
            done = {id(e) for e in left}
            self._written(out, (e for e in pending if id(e) not in done))
            if not left:
                break
            stalled = 0 if len(left) < len(pending) else stalled + 1
            if stalled >= self.policy.max_rounds:
                out.dead.extend((e.text, f"not written after {stalled} rounds: {last}")
                                for e in left)
                break
            out.retry_rounds += 1
            self._backoff(stalled)
            pending = left
        return out

    def _unprocessed(self, response: dict[str, Any], pending: list[Entry]) -> list[Entry]:
        requests = (response.get("UnprocessedItems") or {}).get(self.table) or []
        if not requests:
            return []
        # keys from the texts themselves (an Entry's key may come from another JSON reader)
        by_key = {key_tuple(orjson.loads(e.text), self.keys): e for e in pending}
        left = []
        for request in requests:
            item = from_client(request["PutRequest"]["Item"])
            left.append(by_key[key_tuple(item, self.keys)])
        return left

    def _isolate(self, batch: list[Entry]) -> Outcome:
        """The service refused the batch as a whole: send the items one by one to find the
        bad ones (a single refused item becomes a dead letter)."""
        out = Outcome()
        for entry in batch:
            out.merge(self._batch([entry]))
        return out

    def _taken(self, out: Outcome, entry: Entry) -> None:
        """Count an item whose key was taken, by whose item holds it (without origins,
        everything there is taken to be older than the restore)."""
        origin = self.origins.of(entry.key) if self.origins is not None else "before"
        if origin == "before":
            out.skipped_existing += 1
        elif origin == "earlier":
            out.already_written += 1
        else:  # ours: an earlier send of this run succeeded and its response was lost
            out.written += 1

    def _put_if_absent(self, entry: Entry) -> Outcome:
        out = Outcome()
        stalled, last = 0, ""
        while True:
            if self.budget is not None:
                self.budget.take(entry.wcu)
            out.requests += 1
            try:
                self.sender.put_if_absent(self.table, entry.text, self.keys.partition.name)
                self._written(out, [entry])
                return out
            except ClientError as e:
                code = error_code(e)
                if code == "ConditionalCheckFailedException":
                    self._taken(out, entry)
                    return out
                if code == "ValidationException":
                    message = e.response.get("Error", {}).get("Message", "")
                    out.dead.append((entry.text, f"rejected by DynamoDB: {code}: {message}"))
                    return out
                if code not in RETRYABLE and not code.startswith("5"):
                    raise access_error(e, self.table, doing="write to") from e
                last = code
            except BotoCoreError as e:
                last = type(e).__name__
            stalled += 1
            if stalled >= self.policy.max_rounds:
                out.dead.append((entry.text, f"not written after {stalled} rounds: {last}"))
                return out
            out.retry_rounds += 1
            self._backoff(stalled)
