"""Answers that botocore ``before-send`` handlers return instead of the service's
(reliability.md §5): faults moto cannot produce."""

from __future__ import annotations

from typing import Any

import orjson
from botocore.awsrequest import AWSResponse

DYNAMODB_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"


class RawBody:
    """The ``raw`` of an :class:`AWSResponse`: botocore reads it with ``stream()``."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        yield self._body


def raw_response(request: Any, status: int, body: bytes = b"",
                 headers: dict[str, str] | None = None) -> AWSResponse:
    return AWSResponse(request.url, status, headers or {}, RawBody(body))


def aws_error(request: Any, status: int, code: str) -> AWSResponse:
    """A DynamoDB (or Streams) JSON error answer with this HTTP status and error code."""
    body = orjson.dumps({"__type": f"{DYNAMODB_ERROR_PREFIX}{code}", "message": "injected"})
    return raw_response(request, status, body, {"Content-Type": "application/x-amz-json-1.0"})
