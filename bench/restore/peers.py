"""Peer restore methods, timed in this process (run by bench.py in a fresh process each).

Only boto3 and pyarrow are needed (plus awswrangler or dynamodump for those methods), so
it also runs in the peers' own venv (awswrangler pins another pyarrow). Items are read from
the snapshot's ``_item`` column and converted to each peer's input form BEFORE the clock
starts: the figures are the peers' send phase only, which flatters them.

    python peers.py METHOD PARTS_DIR TABLE   -> one JSON line of metrics on stdout
"""

from __future__ import annotations

import base64
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

_MARK: dict[str, Any] = {}


def _start() -> float:
    """The clock starts here: wall time and CPU (this process and its children)."""
    _MARK["self"] = resource.getrusage(resource.RUSAGE_SELF)
    _MARK["children"] = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter()


def _texts(parts: Path) -> list[str]:
    import pyarrow.parquet as pq

    out: list[str] = []
    for path in sorted(parts.glob("*.parquet")):
        column = pq.read_table(path, columns=["_item"]).column("_item")
        for chunk in column.chunks:
            storage = chunk.storage if hasattr(chunk, "storage") else chunk
            out.extend(storage.to_pylist())
    return out


def _client_form(av: dict[str, Any]) -> dict[str, Any]:
    (tag, inner), = av.items()
    if tag == "B":
        return {"B": base64.b64decode(inner)}
    if tag == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if tag == "M":
        return {"M": {k: _client_form(v) for k, v in inner.items()}}
    if tag == "L":
        return {"L": [_client_form(v) for v in inner]}
    return av


def _python_items(texts: list[str]) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    return [{k: de.deserialize(_client_form(v)) for k, v in json.loads(t).items()}
            for t in texts]


def batch_writer(texts: list[str], table: str) -> float:
    import boto3

    items = _python_items(texts)
    t = boto3.resource("dynamodb").Table(table)
    start = _start()
    with t.batch_writer() as writer:
        for item in items:
            writer.put_item(Item=item)
    return start


def client_batch(texts: list[str], table: str) -> float:
    import boto3

    items = [{k: _client_form(v) for k, v in json.loads(t).items()} for t in texts]
    client = boto3.client("dynamodb")
    start = _start()
    for i in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems")
    return start


def wrangler(texts: list[str], table: str) -> float:
    import awswrangler as wr
    import pandas as pd

    rows = _python_items(texts)
    for row in rows:  # pandas/awswrangler cannot take Python sets; lists are what they write
        for k, v in row.items():
            if isinstance(v, set):
                row[k] = sorted(v)
    df = pd.DataFrame(rows)
    start = _start()
    wr.dynamodb.put_df(df=df, table_name=table)
    return start


def dynamodump(texts: list[str], table: str) -> float:
    import subprocess
    import tempfile

    dump = Path(tempfile.mkdtemp(prefix="dynamodump-"))
    data = dump / table / "data"
    data.mkdir(parents=True)
    schema = {"Table": {"TableName": table, "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}}
    (dump / table / "schema.json").write_text(json.dumps(schema))
    for n, i in enumerate(range(0, len(texts), 3000)):
        page = [json.loads(t) for t in texts[i:i + 3000]]
        (data / f"{n + 1:04d}.json").write_text(json.dumps({"Items": page, "Count": len(page)}))
    host, port = os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)
    start = _start()
    subprocess.run([str(Path(sys.executable).parent / "dynamodump"), "-m", "restore",
                    "-r", "us-east-1", "-s", table, "--dataOnly", "--host",
                    host.replace("http://", ""), "--port", port, "--accessKey", "x",
                    "--secretKey", "x", "--dumpPath", str(dump), "--log", "ERROR"],
                   check=True)
    return start


def main() -> None:
    method, parts, table = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    texts = _texts(parts)
    start = globals()[method](texts, table)
    wall = time.perf_counter() - start
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    c0, k0 = _MARK["self"], _MARK["children"]
    cpu = (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
           + k1.ru_utime + k1.ru_stime - k0.ru_utime - k0.ru_stime)
    print(json.dumps({"method": method, "items": len(texts), "wall": wall, "cpu": cpu,
                      "rss_mb": max(c1.ru_maxrss, k1.ru_maxrss) / 1024,
                      "note": "send phase only; input prepared before the clock"}))


if __name__ == "__main__":
    main()
