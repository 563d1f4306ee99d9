"""Pre-serialized DynamoDB writes through a botocore client.

The lake's ``_item`` texts are already DynamoDB JSON in wire form, exactly what a
BatchWriteItem body holds. botocore would spend ~200 us per item validating and
re-serializing them (performance.md §3). Instead we call the client with a one-item
placeholder and, in a ``before-sign`` handler, replace the placeholder body with the body we
built by concatenating texts. botocore still resolves the endpoint, signs (the signature
covers the real body: the swap happens before signing), retries throttles, 5xx and resets
(the body is swapped again on each retry, which re-signs), and parses the response.

A ``before-send`` guard (registered first) refuses to send the placeholder, so a missed
swap can never write it.
"""

from __future__ import annotations

import secrets
import threading
import xml.etree.ElementTree as ElementTree
from typing import Any

import orjson
from botocore.exceptions import ClientError

from lake.aws import error_code, translate
from schemas.errors import AwsError, DdbLakeError

# A per-process random marker: no real item can carry it by accident.
_MARK = f"__ddblake_placeholder_{secrets.token_hex(8)}__"
_MARK_BYTES = _MARK.encode()
_PLACEHOLDER = {"PutRequest": {"Item": {_MARK: {"S": _MARK}}}}


class PlaceholderSent(RuntimeError):
    """The body swap did not happen (a bug); nothing was sent."""


def fast_writer(client: Any) -> FastWriter:
    """The one FastWriter of ``client`` (its handlers are registered once per client)."""
    writer = getattr(client, "_ddblake_fast_writer", None)
    if writer is None:
        writer = FastWriter(client)
        client._ddblake_fast_writer = writer
    return writer


class FastWriter:
    """Sends BatchWriteItem and conditional PutItem requests whose bodies we built."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._local = threading.local()
        events = client.meta.events
        for op in ("BatchWriteItem", "PutItem"):
            events.register(f"before-sign.dynamodb.{op}", self._swap)
            events.register_first(f"before-send.dynamodb.{op}", self._guard)

    def _swap(self, request: Any, **_: Any) -> None:
        body = getattr(self._local, "body", None)
        if body is not None:
            request.data = body
            if "Content-Length" in request.headers:
                del request.headers["Content-Length"]

    def _guard(self, request: Any, **_: Any) -> None:
        body = request.body or b""
        if len(body) < 1024 and _MARK_BYTES in body:
            raise PlaceholderSent("refusing to send the restore placeholder body")

    def _call(self, body: bytes, method: Any, **params: Any) -> Any:
        self._local.body = body
        try:
            return method(**params)
        finally:
            self._local.body = None

    def batch_put(self, table: str, texts: list[bytes]) -> dict[str, Any]:
        """One BatchWriteItem of PutRequests; returns botocore's parsed response."""
        body = b"".join((b'{"RequestItems":{', orjson.dumps(table), b":[",
                         b",".join([b'{"PutRequest":{"Item":' + t + b"}}" for t in texts]),
                         b"]}}"))
        result: dict[str, Any] = self._call(body, self.client.batch_write_item,
                                            RequestItems={table: [_PLACEHOLDER]})
        return result

    def put_if_absent(self, table: str, text: bytes, partition_key: str) -> None:
        """A PutItem that fails with ConditionalCheckFailedException if the key exists."""
        body = b"".join((b'{"TableName":', orjson.dumps(table), b',"Item":', text,
                         b',"ConditionExpression":"attribute_not_exists(#k)",'
                         b'"ExpressionAttributeNames":{"#k":', orjson.dumps(partition_key),
                         b"}}"))
        self._call(body, self.client.put_item, TableName=table,
                   Item={_MARK: {"S": _MARK}})


# Codes that say the credentials themselves are bad (lake.aws.translate words those); any
# other 403 is a permission the identity lacks.
_CREDENTIAL_CODES = frozenset({"ExpiredToken", "ExpiredTokenException",
                               "UnrecognizedClientException", "InvalidAccessKeyId",
                               "InvalidClientTokenId", "SignatureDoesNotMatch",
                               "MissingAuthenticationTokenException"})


def xml_error(body: str) -> tuple[str, str] | None:
    """(code, message) of an XML error document (what some endpoints and proxies answer a
    JSON API with), or None when ``body`` is not one."""
    if not body.lstrip().startswith("<"):
        return None
    try:
        root = ElementTree.fromstring(body.strip())
    except ElementTree.ParseError:
        return None
    code, message = root.find(".//Code"), root.find(".//Message")
    if code is None or not code.text:
        return None
    return code.text.strip(), (message.text or "").strip() if message is not None else ""


def denied(error: ClientError) -> tuple[str, str] | None:
    """(code, message) when ``error`` is an HTTP 403 or AccessDenied that is not about the
    credentials themselves; None otherwise."""
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", "") or "")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    inner = xml_error(message)
    if inner is not None:
        code, message = inner
    if code in _CREDENTIAL_CODES:
        return None
    if code in ("AccessDenied", "AccessDeniedException") or status == 403 or code == "403":
        return code, message
    return None


def access_error(error: ClientError, table: str, *, doing: str) -> DdbLakeError:
    """A clear error for a refused DynamoDB call on ``table``: a 403 names the IAM action
    (``dynamodb:<operation>``) and the table; anything else as :func:`lake.aws.translate`."""
    found = denied(error)
    if found is None:
        return translate(error, action=doing, resource=f"table {table}")
    code, message = found
    action = f"dynamodb:{error.operation_name}"
    said = f"AWS said: {code}: {message}" if message else f"AWS answered {code} with no reason"
    return AwsError(f"access denied: the AWS identity in use may not call {action} on table "
                    f"{table}, so ddblake cannot {doing} it ({said})",
                    hint=f"allow {action} on arn:aws:dynamodb:REGION:ACCOUNT:table/{table} in "
                         "that identity's IAM policy (`aws sts get-caller-identity` shows which "
                         "identity it is; the README lists what restore needs), then re-run "
                         "with --resume")
