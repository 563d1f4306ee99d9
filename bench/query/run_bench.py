"""Query benchmark: DuckDB over a lake snapshot vs a DynamoDB Scan with a FilterExpression.

    nice -n 10 .venv/bin/python bench/query/run_bench.py [--items 1000000] [--scan-items 50000]

1. Builds a snapshot of ``--items`` sample orders (``ddblake.sampledata.orders``) in a local
   lake with the real codec and writer (10 parts), and a second lake holding the first
   ``--scan-items`` of the same orders.
2. Times count / filter / group-by / top-N / point-lookup queries through ``ddblake.api``
   (warm: median of 5 runs after 1 first run; wall time).
3. Loads the ``--scan-items`` orders into DynamoDB in moto's server (127.0.0.1) and times a
   full paginated Scan with the same filter as a FilterExpression (Select=COUNT), in the
   same run. moto is far slower than DynamoDB, so the Scan side uses the smaller table and
   the comparison is per item as well as absolute.

Prints a Markdown table; results and the machine's load go in ``bench/query/README.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

from ddblake.api import open_lake
from ddblake.sampledata import orders
from lake import layout
from lake.fileio import load_file_io
from lake.writers import SnapshotWriter
from schemas.codec import encode_items
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Source

KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
QUERIES = {
    "count": "SELECT count(*) FROM items",
    "filter": "SELECT count(*) FROM items WHERE status = 'SHIPPED' AND price > 1000",
    "group-by": "SELECT status, count(*), sum(price), avg(qty) FROM items "
                "GROUP BY status ORDER BY status",
    "top-10 customers": "SELECT _pk, sum(price * qty) s FROM items GROUP BY _pk "
                        "ORDER BY s DESC LIMIT 10",
    "point lookup": "SELECT * FROM items WHERE _pk = 'CUST#00012345'",
    "spine (JSON) filter": "SELECT count(*) FROM items WHERE _item->>'$.meta.M.src.S' = 'web'",
}


def build_lake(root: Path, count: int, parts: int) -> float:
    started = time.perf_counter()
    io = load_file_io(str(root))
    writer = SnapshotWriter(io, "orders", layout.new_id(), KEYS)
    source = orders(count)
    per_part = -(-count // parts)
    for n in range(parts):
        chunk = list(islice(source, per_part))
        if chunk:
            writer.write_part(layout.part_name(n, 0), encode_items(chunk, KEYS))
    now = "2026-11-22T00:00:00.000000Z"
    writer.commit(source=Source("orders", "scan"), consistency=Consistency("exact", now, now),
                  table_description={"TableName": "orders"})
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], runs: int = 5) -> tuple[float, float]:
    started = time.perf_counter()
    fn()
    first = time.perf_counter() - started
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return first, statistics.median(samples)


def duck_rows(lake: Path) -> list[tuple[str, float, float, int]]:
    out = []
    with open_lake(str(lake)) as session:
        for name, sql in QUERIES.items():
            result: dict[str, Any] = {}

            def run(sql: str = sql, result: dict[str, Any] = result) -> None:
                result["t"] = session.query(sql)

            first, warm = timed(run)
            out.append((name, first, warm, result["t"].num_rows))
    return out


def scan_rows(count: int) -> list[tuple[str, float, int]]:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from lake.aws import make_client

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": f"http://{host}:{port}"})
    try:
        ddb = make_client("dynamodb", boto3.Session())
        ddb.create_table(TableName="orders", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}])
        source = orders(count)
        started = time.perf_counter()
        while batch := list(islice(source, 25)):
            request = {"orders": [{"PutRequest": {"Item": it}} for it in batch]}
            while request:
                request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems")
        load = time.perf_counter() - started
        scans = {
            "count": {},
            "filter": {"FilterExpression": "#s = :s AND price > :p",
                       "ExpressionAttributeNames": {"#s": "status"},
                       "ExpressionAttributeValues": {":s": {"S": "SHIPPED"},
                                                     ":p": {"N": "1000"}}},
        }
        out = [("load (BatchWriteItem)", load, count)]
        for name, extra in scans.items():
            _first, warm = timed(lambda extra=extra: _scan_count(ddb, extra), runs=1)
            out.append((f"Scan {name}", warm, _scan_count(ddb, extra)))
        return out
    finally:
        server.stop()


def _scan_count(ddb: Any, extra: dict[str, Any]) -> int:
    kwargs = {"TableName": "orders", "Select": "COUNT", **extra}
    total = 0
    while True:
        page = ddb.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--scan-items", type=int, default=20_000)
    args = parser.parse_args()
    print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout)
    with tempfile.TemporaryDirectory(prefix="ddblake-bench-") as tmp:
        big, small = Path(tmp, "big"), Path(tmp, "small")
        built = build_lake(big, args.items, 10)
        build_lake(small, args.scan_items, 1)
        print(f"built {args.items:,}-item snapshot in {built:.1f} s")
        print(f"\n| query | {args.items:,} items: first (s) | warm median (s) | rows "
              f"| {args.scan_items:,} items: warm median (s) |\n|---|---|---|---|---|")
        small_rows = {r[0]: r for r in duck_rows(small)}
        with open_lake(str(small)) as session:
            matched = session.query(QUERIES["filter"]).column(0)[0].as_py()
        for name, first, warm, rows in duck_rows(big):
            print(f"| {name} | {first:.3f} | {warm:.3f} | {rows} | {small_rows[name][2]:.3f} |")
        print(f"\n| DynamoDB (moto server), {args.scan_items:,} items | seconds | count |"
              "\n|---|---|---|")
        for name, seconds, n in scan_rows(args.scan_items):
            print(f"| {name} | {seconds:.2f} | {n} |")
        print(f"\nDuckDB's filter count on the same {args.scan_items:,} items: {matched}")
    print("\nload after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout)


if __name__ == "__main__":
    main()
