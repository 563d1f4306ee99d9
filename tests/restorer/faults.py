"""Faults injected at botocore level (reliability.md §5.1, §5.3), on the wire body.

The restorer swaps the request body just before signing, so the injectors work on the
body that is really sent: ``before-send`` (registered first) may drop requests from it
(they are then really not written) or answer instead of the service.
"""

from __future__ import annotations

from typing import Any

import orjson
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

from schemas.dynamo_json import to_client
from tests.faults import aws_error, raw_response


def ddb_error(request: Any, status: int, code: str) -> AWSResponse:
    """An error answer. botocore runs every ``before-send`` handler and uses the first
    answer, so moto's stub would still apply the request: empty the body to stop it."""
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else str(target)
    request.body = (b'{"RequestItems":{}}' if target.endswith("BatchWriteItem")
                    else b'{"TableName":"ddblake-fault-sink","Item":{"pk":{"S":"x"}}}')
    request.headers["Content-Length"] = str(len(request.body))
    return aws_error(request, status, code)


class Unprocessor:
    """Leave every k-th PutRequest unprocessed for the first ``rounds`` calls; a call whose
    every request would be dropped answers ProvisionedThroughputExceededException instead
    (what DynamoDB does). ``rounds=None`` means forever."""

    def __init__(self, k: int = 3, rounds: int | None = 2) -> None:
        self.k, self.rounds, self.calls, self.dropped = k, rounds, 0, 0

    def before_send(self, request: Any, **_: Any) -> Any:
        self.calls += 1
        if self.rounds is not None and self.calls > self.rounds:
            return None
        body = orjson.loads(request.body)
        held: dict[str, list[Any]] = {}
        for table, requests in list(body["RequestItems"].items()):
            keep = [r for i, r in enumerate(requests) if i % self.k]
            drop = [r for i, r in enumerate(requests) if not i % self.k]
            if not keep:
                return ddb_error(request, 400, "ProvisionedThroughputExceededException")
            body["RequestItems"][table] = keep
            held[table] = drop
            self.dropped += len(drop)
        request.body = orjson.dumps(body)
        request.headers["Content-Length"] = str(len(request.body))
        request.context["injected_unprocessed"] = held
        return None

    def after_call(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        for table, requests in (context.pop("injected_unprocessed", None) or {}).items():
            client_form = [{"PutRequest": {"Item": to_client(r["PutRequest"]["Item"])}}
                           for r in requests]
            parsed.setdefault("UnprocessedItems", {}).setdefault(table, []).extend(client_form)

    def install(self, events: Any) -> None:
        events.register_first("before-send.dynamodb.BatchWriteItem", self.before_send)
        events.register("after-call.dynamodb.BatchWriteItem", self.after_call)


class FaultPlan:
    """Answer the next calls from a plan: ``throttle``, ``500``, ``503``, ``reset`` or
    ``None`` (pass through); after the plan, pass everything through."""

    def __init__(self, plan: list[str | None]) -> None:
        self.plan, self.calls = list(plan), 0

    def __call__(self, request: Any, **_: Any) -> Any:
        self.calls += 1
        fault = self.plan.pop(0) if self.plan else None
        if fault is None:
            return None
        if fault == "throttle":
            return ddb_error(request, 400, "ProvisionedThroughputExceededException")
        if fault == "500":
            return ddb_error(request, 500, "InternalServerError")
        if fault == "503":
            ddb_error(request, 503, "ServiceUnavailable")
            return raw_response(request, 503)
        if fault == "reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        raise ValueError(fault)


class Throttler:
    """Throttle every BatchWriteItem whose body holds an item whose ``attr`` (an S
    attribute) is one of ``values``: those batches can never be written."""

    def __init__(self, attr: str, values: set[str]) -> None:
        self.attr, self.values, self.calls = attr, values, 0
        self.active = True

    def __call__(self, request: Any, **_: Any) -> Any:
        if not self.active:
            return None
        body = orjson.loads(request.body)
        for requests in body["RequestItems"].values():
            for r in requests:
                if r["PutRequest"]["Item"][self.attr]["S"] in self.values:
                    self.calls += 1
                    return ddb_error(request, 400, "ProvisionedThroughputExceededException")
        return None


class LostResponses:
    """The request reaches the service and is applied; its response is lost on the way
    back (a connection reset after the write), so botocore sends it again. In-process moto
    only: the handler applies the request through moto's own stub before failing.
    ``lose(body)`` picks the requests whose first response is lost."""

    def __init__(self, lose: Any) -> None:
        self.lose, self.lost, self.calls = lose, 0, 0
        self._seen: set[bytes] = set()

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        from moto.core.models import botocore_stubber

        self.calls += 1
        body = bytes(request.body or b"")
        if body in self._seen or not self.lose(body):
            return None
        self._seen.add(body)
        answer = botocore_stubber(event_name=kwargs.get("event_name", ""), request=request)
        assert answer is not None and answer.status_code == 200, "the write was not applied"
        self.lost += 1
        raise ConnectionClosedError(endpoint_url=request.url)
