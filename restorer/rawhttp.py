"""The raw transport: pre-serialized bodies, SigV4-signed, sent over our own keep-alive
HTTP connections (one per thread).

botocore's per-call machinery (endpoint rules, event hooks, retry handler, parser) costs
about 3 ms of CPU per BatchWriteItem here, more than everything else a restore does
(``bench/restore/README.md``). This transport keeps botocore's credentials chain (including
refresh) and does everything else itself (:mod:`restorer.wire`: SigV4 signing and
HTTP/1.1): the endpoint is the one the botocore client resolved, errors become
``ClientError`` with the service's code (so the batch writer classifies them as usual) and
connection failures ``ConnectionClosedError`` (retried by the writer's rounds; the only
inner retry is resending once when a kept-alive connection turns out closed).

Not supported: HTTP proxies, botocore event hooks (fault tests use the botocore transport).
"""

from __future__ import annotations

import threading
from typing import Any

import orjson
from botocore.exceptions import ClientError, ConnectionClosedError

from restorer.transport import xml_error
from restorer.wire import Connection, Signer
from schemas.dynamo_json import to_client

_TARGET = "DynamoDB_20120810."


def raw_writer(client: Any) -> RawWriter:
    """The one RawWriter of ``client`` (its connections are per thread)."""
    writer = getattr(client, "_ddblake_raw_writer", None)
    if writer is None:
        writer = RawWriter(client)
        client._ddblake_raw_writer = writer
    return writer


def hooked(client: Any) -> bool:
    """Whether something intercepts the client's sends (moto's in-process mock, fault
    injection): then only the botocore transport honours it. Unknown means yes."""
    emitter = getattr(client.meta.events, "_emitter", client.meta.events)
    try:
        handlers = list(emitter._handlers.prefix_search("before-send.dynamodb.BatchWriteItem"))
    except AttributeError:
        return True
    ours = getattr(getattr(client, "_ddblake_fast_writer", None), "_guard", None)
    return any(h != ours for h in handlers)


class RawWriter:
    """Same interface as :class:`restorer.transport.FastWriter`."""

    def __init__(self, client: Any) -> None:
        self.endpoint = client.meta.endpoint_url
        self.region = client.meta.region_name
        self._signer = Signer(client._request_signer._credentials, self.region, self.endpoint)
        self._local = threading.local()

    def _connection(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = Connection(self.endpoint)
            self._local.conn = conn
        return conn

    def _send(self, operation: str, body: bytes) -> dict[str, Any]:
        headers = self._signer.headers(_TARGET + operation, body)
        try:
            status, payload = self._connection().post(self._signer.path, headers, body)
        except OSError as e:
            raise ConnectionClosedError(endpoint_url=self.endpoint, error=e) from e
        return _result(operation, status, payload)

    def batch_put(self, table: str, texts: list[bytes]) -> dict[str, Any]:
        body = b"".join((b'{"RequestItems":{', orjson.dumps(table), b":[",
                         b",".join([b'{"PutRequest":{"Item":' + t + b"}}" for t in texts]),
                         b"]}}"))
        parsed = self._send("BatchWriteItem", body)
        for requests in (parsed.get("UnprocessedItems") or {}).values():
            for request in requests:  # botocore's client form, as FastWriter returns
                put = request["PutRequest"]
                put["Item"] = to_client(put["Item"])
        return parsed

    def put_if_absent(self, table: str, text: bytes, partition_key: str) -> None:
        body = b"".join((b'{"TableName":', orjson.dumps(table), b',"Item":', text,
                         b',"ConditionExpression":"attribute_not_exists(#k)",'
                         b'"ExpressionAttributeNames":{"#k":', orjson.dumps(partition_key),
                         b"}}"))
        self._send("PutItem", body)


def _result(operation: str, status: int, payload: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(payload) if payload else {}
    except orjson.JSONDecodeError:
        parsed = {}
    if status == 200 and isinstance(parsed, dict):
        return parsed
    code = str(parsed.get("__type", "")).rsplit("#", 1)[-1] if isinstance(parsed, dict) else ""
    message = (parsed.get("message") or parsed.get("Message") or "") \
        if isinstance(parsed, dict) else ""
    if not code:  # not DynamoDB's JSON: an XML error document (a proxy, an emulator)?
        code, message = xml_error(payload.decode("utf-8", "replace")) or ("", message)
    raise ClientError({"Error": {"Code": code or str(status), "Message": str(message)},
                       "ResponseMetadata": {"HTTPStatusCode": status}}, operation)
