"""Helpers shared by tests: tables, items, scans (low-level client only)."""

from __future__ import annotations

import os
from typing import Any

REGION = "us-east-1"


def create_table(ddb: Any, name: str, *, pk: tuple[str, str] = ("pk", "S"),
                 sk: tuple[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """Create an on-demand table and return its description."""
    key_schema = [{"AttributeName": pk[0], "KeyType": "HASH"}]
    definitions = [{"AttributeName": pk[0], "AttributeType": pk[1]}]
    if sk:
        key_schema.append({"AttributeName": sk[0], "KeyType": "RANGE"})
        definitions.append({"AttributeName": sk[0], "AttributeType": sk[1]})
    definitions += extra.pop("AttributeDefinitions", [])
    ddb.create_table(TableName=name, KeySchema=key_schema, AttributeDefinitions=definitions,
                     BillingMode="PAY_PER_REQUEST", **extra)
    return dict(ddb.describe_table(TableName=name)["Table"])


def put_items(ddb: Any, table: str, items: list[dict[str, Any]]) -> None:
    """Write client-form items with BatchWriteItem (moto never leaves items unprocessed)."""
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": it}} for it in items[start:start + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def scan_all(ddb: Any, table: str) -> list[dict[str, Any]]:
    """Every item of a table, client form, through the low-level client."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def run_cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    """Run ``ddblake ARGS`` in this process: (exit code, stdout, stderr)."""
    from ddblake.cli import main

    code = 0
    try:
        main(list(args))
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


# The lake format the snapshot helpers of the test suites write: format 2 unless the run
# asks for format 1 (DDBLAKE_TEST_LAKE_FORMAT=1), so both readers stay covered.
TEST_LAKE_FORMAT = int(os.environ.get("DDBLAKE_TEST_LAKE_FORMAT", "2"))


def encode_part(writer: Any, items: list[dict[str, Any]], keys: Any) -> Any:
    """A part of ``items`` (taken over) for ``writer``'s snapshot, in the test lake format."""
    from schemas.codec import encode_items

    if TEST_LAKE_FORMAT == 1:
        return encode_items(items, keys)
    return writer.encode(items)
