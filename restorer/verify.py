"""After writing: read the target back and compare it with what was selected.

Counts and order-independent digests (sum of sha256 of each item's value form, numbers by
value: :func:`value_digest_bytes`), read with the low-level client.

- A new table (created by this restore) is scanned whole: it must hold exactly the items
  written, nothing more.
- An existing table is read back by key (BatchGetItem) for the selected items only.
  With ``put-if-absent`` an item that already existed was kept on purpose, so only its
  presence is checked; such items are counted as ``different`` when they differ.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from lake.aws import translate
from restorer.config import Mode, Verification
from restorer.writer import key_tuple
from schemas.dynamo_json import Digest, Item, from_client, to_client, value_digest_bytes
from schemas.errors import RetriesExceeded
from schemas.keys import KeySchema

GET_BATCH = 100


def _digest_of(item: Item) -> str:
    d = Digest()
    d.add_bytes(value_digest_bytes(item))
    return d.hex()


def scan_digest(ddb: Any, table: str) -> Digest:
    """Count and digest of every item of ``table`` (consistent reads)."""
    digest = Digest()
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    try:
        while True:
            page = ddb.scan(**params)
            for item in page["Items"]:
                digest.add_hex(_digest_of(from_client(item)))
            if "LastEvaluatedKey" not in page:
                return digest
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except (ClientError, BotoCoreError) as e:
        raise translate(e, action="scan", resource=f"table {table}") from e


def expected_digest(texts: Iterable[bytes]) -> Digest:
    """Count and digest of the items that were meant to be written (value form)."""
    digest = Digest()
    for text in texts:
        digest.add_hex(_digest_of(orjson.loads(text)))
    return digest


def verify_new(ddb: Any, table: str, expected: Digest) -> Verification:
    found = scan_digest(ddb, table)
    return Verification("scan", expected.count, found.count, expected.hex(), found.hex(),
                        missing=max(0, expected.count - found.count))


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _get_many(ddb: Any, table: str, keys: KeySchema, wanted: list[Item],
              sleep: Callable[[float], None]) -> list[Item]:
    request = {table: {"Keys": [to_client(keys.key_of(i)) for i in wanted],
                       "ConsistentRead": True}}
    found: list[Item] = []
    for attempt in range(12):
        try:
            response = ddb.batch_get_item(RequestItems=request)
        except (ClientError, BotoCoreError) as e:
            raise translate(e, action="read back", resource=f"table {table}") from e
        found += [from_client(i) for i in response.get("Responses", {}).get(table, [])]
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return found
        sleep(min(5.0, 0.05 * 2 ** attempt))
    raise RetriesExceeded(f"could not read back table {table} for verification",
                          hint="re-run with --resume, or with --no-verify")


def verify_by_key(ddb: Any, table: str, keys: KeySchema, items: Iterable[bytes], mode: Mode,
                  *, sleep: Callable[[float], None] = time.sleep) -> Verification:
    """Read back the given items (canonical texts) by key and compare them by value."""
    expected, found = Digest(), Digest()
    missing = different = 0
    parsed = (orjson.loads(t) for t in items)
    for chunk in _chunks(parsed, GET_BATCH):
        by_key = {key_tuple(i, keys): i for i in chunk}
        got = {key_tuple(i, keys): i for i in _get_many(ddb, table, keys, chunk, sleep)}
        for key, item in by_key.items():
            want = _digest_of(item)
            expected.add_hex(want)
            have = got.get(key)
            if have is None:
                missing += 1
                continue
            have_digest = _digest_of(have)
            different += have_digest != want
            # put-if-absent keeps existing items on purpose: count them, compare presence
            found.add_hex(want if mode == "put-if-absent" else have_digest)
    return Verification("batch-get", expected.count, found.count, expected.hex(), found.hex(),
                        missing=missing, different=different)
