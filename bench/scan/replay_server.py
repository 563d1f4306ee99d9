"""A stand-in DynamoDB that answers Scan with pre-built pages, instantly, so a benchmark
measures the client's own cost.

- Items: ``ddblake.sampledata.orders(n)`` (400-600 B of DynamoDB JSON each), cached as JSON
  lines under ``.cache/``.
- Scan: pages follow DynamoDB's 1 MB rule (by JSON size, a close stand-in for item size)
  and ``Limit``, ``Segment``/``TotalSegments`` split by a hash of the partition key (a
  partition never spans segments, like DynamoDB), ``ExclusiveStartKey`` -> ``LastEvaluatedKey``,
  ``ConsumedCapacity`` (page bytes / 4 KB / 2, eventually consistent), ``x-amz-crc32``.
  Pages are built on first use and kept in memory.
- DescribeTable, DescribeTimeToLive, DescribeContinuousBackups, ListTagsOfResource: enough
  for exporters to start.

HTTP/1.1 keep-alive on 127.0.0.1 only. Run: ``python replay_server.py --items 100000``;
it prints ``PORT <n>`` when ready. ``--latency-ms`` holds every Scan answer that long (each
request on its own thread), like a real service's round trip (bench/runtime/scaling.py).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

TABLE = "orders"
PAGE_BYTES = 1_000_000
CACHE = Path(__file__).with_name(".cache")


def load_items(n: int) -> list[bytes]:
    """The items as canonical-ish JSON bytes (one per item), cached on disk."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"orders-{n}.jsonl"
    if not path.exists():
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from ddblake.sampledata import orders

        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for item in orders(n):
                f.write(orjson.dumps(item) + b"\n")
        tmp.rename(path)
    return path.read_bytes().splitlines()


class Pages:
    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.keys = [_key_of(line) for line in lines]
        # (total, limit) -> per segment: page bodies; (total, limit, seg, lek) -> next page
        self.split: dict[tuple[int, int], list[list[bytes]]] = {}
        self.index: dict[tuple[int, int, int, bytes], int] = {}

    def segment_pages(self, total: int, segment: int, limit: int = 0) -> list[bytes]:
        """``limit``: Scan's Limit (items per page; 0 = only the 1 MB rule)."""
        if (total, limit) not in self.split:
            self._build(total, limit)
        return self.split[(total, limit)][segment]

    def _build(self, total: int, limit: int) -> None:
        members: list[list[int]] = [[] for _ in range(total)]
        for i, key in enumerate(self.keys):
            pk = orjson.loads(key)["pk"]["S"].encode()
            members[int.from_bytes(hashlib.md5(pk).digest()[:4], "big") % total].append(i)
        self.split[(total, limit)] = [self._pages(total, limit, seg, rows)
                                      for seg, rows in enumerate(members)]

    def _pages(self, total: int, limit: int, segment: int, rows: list[int]) -> list[bytes]:
        bodies: list[bytes] = []
        chunk: list[int] = []
        size = 0
        for row in [*rows, -1]:
            if row >= 0:
                chunk.append(row)
                size += len(self.lines[row])
            if chunk and (size >= PAGE_BYTES or row < 0 or len(chunk) == limit):
                last = row < 0 or row == rows[-1]
                lek = None if last else self.keys[chunk[-1]]
                bodies.append(_body([self.lines[r] for r in chunk], lek, size))
                if lek is not None:
                    self.index[(total, limit, segment, _norm(lek))] = len(bodies)
                chunk, size = [], 0
        return bodies or [_body([], None, 0)]


def _key_of(line: bytes) -> bytes:
    item = orjson.loads(line)
    return orjson.dumps({"pk": item["pk"], "sk": item["sk"]})


def _norm(key: bytes) -> bytes:
    return orjson.dumps(orjson.loads(key), option=orjson.OPT_SORT_KEYS)


def _body(items: list[bytes], lek: bytes | None, size: int) -> bytes:
    units = max(0.5, size / 4096 / 2)
    tail = b'],"Count":%d,"ScannedCount":%d' % (len(items), len(items))
    if lek is not None:
        tail += b',"LastEvaluatedKey":' + lek
    tail += b',"ConsumedCapacity":{"TableName":"%s","CapacityUnits":%.1f}}' % (
        TABLE.encode(), units)
    return b'{"Items":[' + b",".join(items) + tail


def describe(n: int, nbytes: int) -> dict[str, Any]:
    return {"Table": {
        "TableName": TABLE, "TableStatus": "ACTIVE", "ItemCount": n, "TableSizeBytes": nbytes,
        "TableArn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                      {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"}],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}}}


def make_handler(pages: Pages, n: int, nbytes: int,
                 latency_s: float = 0.0) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms stalls)

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = orjson.loads(self.rfile.read(length) or b"{}")
            op = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
            if op == "Scan":
                body = self._scan(request)
                if latency_s:
                    time.sleep(latency_s)
            elif op == "DescribeTable":
                body = orjson.dumps(describe(n, nbytes))
            elif op == "DescribeTimeToLive":
                body = b'{"TimeToLiveDescription":{"TimeToLiveStatus":"DISABLED"}}'
            elif op == "DescribeContinuousBackups":
                body = (b'{"ContinuousBackupsDescription":{"ContinuousBackupsStatus":"ENABLED",'
                        b'"PointInTimeRecoveryDescription":{"PointInTimeRecoveryStatus":'
                        b'"DISABLED"}}}')
            elif op == "ListTables":
                body = orjson.dumps({"TableNames": [TABLE]})
            elif op == "ListTagsOfResource":
                body = b'{"Tags":[]}'
            else:
                body = orjson.dumps({"__type": "com.amazon.coral.service#UnknownOperation",
                                     "message": op})
                return self._send(400, body)
            self._send(200, body)

        def _scan(self, request: dict[str, Any]) -> bytes:
            total = int(request.get("TotalSegments", 1))
            segment = int(request.get("Segment", 0))
            limit = int(request.get("Limit", 0))
            bodies = pages.segment_pages(total, segment, limit)
            start = request.get("ExclusiveStartKey")
            index = 0 if not start else pages.index[
                (total, limit, segment, orjson.dumps(start, option=orjson.OPT_SORT_KEYS))]
            return bodies[index]

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    lines = load_items(args.items)
    pages = Pages(lines)
    server = ThreadingHTTPServer(("127.0.0.1", args.port),
                                 make_handler(pages, len(lines), sum(map(len, lines)),
                                              args.latency_ms / 1000))
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
