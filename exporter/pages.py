"""Reading Scan pages fast, with botocore still doing signing, endpoints and retries.

botocore's shape-driven parser costs about 95 us per item; the raw body parsed by orjson
about 16 (performance.md section 2a/3). A ``before-parse.dynamodb.Scan`` handler moves the
body of a *successful* response aside and gives the parser ``{}``; error responses keep
their body, so botocore still reads error codes and retries throttles, 5xx and connection
faults. The DynamoDB CRC32 check reads the HTTP response itself, so it still applies.
The raw page is wire form (B as base64 text), which is what the codec consumes.

On top of botocore's retries, :func:`fetch_page` retries a page that still fails with a
throttle, 5xx or connection error, with jittered exponential backoff, until a deadline;
then it raises :class:`RetriesExceeded` (the checkpoints make the export resumable).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from lake.aws import error_code, translate
from schemas.dynamo_json import Item, to_client
from schemas.errors import RetriesExceeded

RAW_KEY = "_ddblake_raw_body"
THROTTLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "Throttling", "TooManyRequestsException", "InternalServerError", "ServiceUnavailable",
    "InternalFailure", "500", "502", "503", "504",
})
TRANSIENT_ERRORS = (ConnectionClosedError, EndpointConnectionError, ReadTimeoutError,
                    ConnectTimeoutError)
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 20.0


@dataclass
class Page:
    items: list[Item]
    last_key: Item | None
    consumed: float
    body_bytes: int


def _take_raw_body(response_dict: dict[str, Any], customized_response_dict: dict[str, Any],
                   **_: Any) -> None:
    if response_dict.get("status_code") == 200:
        customized_response_dict[RAW_KEY] = response_dict["body"]
        response_dict["body"] = b"{}"


def install_raw_scan(client: Any) -> Any:
    """Make ``client.scan`` return the raw body under :data:`RAW_KEY` (idempotent)."""
    events = client.meta.events
    events.unregister("before-parse.dynamodb.Scan", unique_id="ddblake-raw-scan")
    events.register("before-parse.dynamodb.Scan", _take_raw_body, unique_id="ddblake-raw-scan")
    return client


def parse_page(response: dict[str, Any]) -> Page:
    body = response.get(RAW_KEY)
    if body is None:  # the hook was not installed: fall back to botocore's parse
        from schemas.dynamo_json import from_client

        items = [from_client(i) for i in response.get("Items", [])]
        lek = response.get("LastEvaluatedKey")
        return Page(items, from_client(lek) if lek else None,
                    float((response.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0)), 0)
    data = orjson.loads(body)
    consumed = (data.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0)
    return Page(data.get("Items", []), data.get("LastEvaluatedKey"), float(consumed), len(body))


def scan_params(table: str, segment: int, total: int, *, consistent_read: bool,
                start_key: Item | None, limit: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": consistent_read,
                              "ReturnConsumedCapacity": "TOTAL"}
    if total > 1:  # one segment is a plain Scan (and emulators handle it everywhere)
        params["Segment"], params["TotalSegments"] = segment, total
    if start_key:
        params["ExclusiveStartKey"] = to_client(start_key)  # the client wants B as bytes
    if limit:
        params["Limit"] = limit
    return params


def _retryable(error: BaseException) -> bool:
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(error) in THROTTLE_CODES or int(status or 0) >= 500
    return isinstance(error, TRANSIENT_ERRORS)


def fetch_page(client: Any, params: dict[str, Any], *, deadline_s: float,
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> Page:
    """One Scan page, retried past botocore's own attempts until ``deadline_s``."""
    started = clock()
    attempt = 0
    while True:
        try:
            return parse_page(client.scan(**params))
        except (ClientError, BotoCoreError) as e:
            if not _retryable(e):
                raise translate(e, action="scan", resource=f"table {params['TableName']}") from e
            attempt += 1
            if clock() - started >= deadline_s:
                raise RetriesExceeded(
                    f"segment {params.get('Segment', 0)} of table {params['TableName']} still "
                    f"fails after {attempt} rounds of retries over {deadline_s:.0f}s: {e}",
                    last_error=e, remaining=1,
                    hint="the table is throttling or unreachable; lower --max-rcu or wait, "
                         "then re-run with --resume") from e
            sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** attempt)))
