"""A fake DynamoDB endpoint on 127.0.0.1 that accepts BatchWriteItem instantly.

It lets the benchmark measure the client's cost alone. asyncio, HTTP/1.1 keep-alive; it
counts the PutRequests it receives (``GET /stats``) and answers DescribeTable for one table
with the key schema given on the command line, so ``restore --existing`` can check it.

    python fakeddb.py --table bench --pk pk:S --sk sk:S      # prints the port, then serves
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

STATS = {"requests": 0, "items": 0}


def _describe(table: str, keys: list[tuple[str, str]]) -> bytes:
    roles = ["HASH", "RANGE"]
    body = {"Table": {
        "TableName": table, "TableStatus": "ACTIVE", "ItemCount": 0,
        "KeySchema": [{"AttributeName": n, "KeyType": roles[i]} for i, (n, _) in enumerate(keys)],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in keys],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "TableArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"}}
    return json.dumps(body).encode()


def _answer(target: str, body: bytes, describe: bytes) -> tuple[int, bytes]:
    op = target.rsplit(".", 1)[-1]
    STATS["requests"] += 1
    if op == "BatchWriteItem":
        STATS["items"] += body.count(b'{"PutRequest"') + body.count(b'{"PutRequest" ')
        return 200, b'{"UnprocessedItems":{}}'
    if op == "PutItem":
        STATS["items"] += 1
        return 200, b"{}"
    if op == "DescribeTable":
        return 200, describe
    if op == "ListTables":
        return 200, b'{"TableNames":[]}'
    if op == "DescribeTimeToLive":
        return 200, b'{"TimeToLiveDescription":{"TimeToLiveStatus":"DISABLED"}}'
    return 200, b"{}"


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                  describe: bytes) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if method == "GET" and path.startswith("/stats"):
                status, payload = 200, json.dumps(STATS).encode()
            elif method == "POST" and path.startswith("/reset"):
                STATS.update(requests=0, items=0)
                status, payload = 200, b"{}"
            else:
                status, payload = _answer(headers.get("x-amz-target", ""), body, describe)
            writer.write(b"HTTP/1.1 %d OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
                         b"Content-Length: %d\r\nx-amzn-RequestId: fake\r\n\r\n"
                         % (status, len(payload)) + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionResetError):
        pass
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> None:
    keys = [tuple(k.split(":")) for k in (args.pk, args.sk) if k]
    describe = _describe(args.table, keys)  # type: ignore[arg-type]
    server = await asyncio.start_server(lambda r, w: _handle(r, w, describe), "127.0.0.1",
                                        args.port, limit=64 * 1024 * 1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--table", default="bench")
    parser.add_argument("--pk", default="pk:S")
    parser.add_argument("--sk", default="sk:S")
    try:
        asyncio.run(_main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
