"""Peer exporters for the scan benchmark; runs in the peers venv (awswrangler pins pyarrow 25).

    python peers.py wr OUT_DIR        awswrangler read_items(allow_full_scan=True) -> Parquet
    python peers.py boto3 OUT_DIR     a plain boto3 paginator + TypeDeserializer -> Parquet

Endpoint and credentials come from AWS_* variables. Prints ``ITEMS <n>`` at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

TABLE = "orders"


def _fix_sets(value: Any) -> Any:
    """pyarrow cannot convert Python sets (SS/NS/BS); every peer needs this fix-up."""
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, dict):
        return {k: _fix_sets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix_sets(v) for v in value]
    return value


def run_wr(out: Path) -> int:
    import awswrangler as wr

    df = wr.dynamodb.read_items(table_name=TABLE, allow_full_scan=True)
    for column in df.columns:
        if df[column].map(lambda v: isinstance(v, set | dict | list)).any():
            df[column] = df[column].map(_fix_sets)
    df.to_parquet(out / "orders.parquet", compression="zstd", index=False)
    return len(df)


def run_boto3(out: Path) -> int:
    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq
    from boto3.dynamodb.types import TypeDeserializer

    client = boto3.client("dynamodb")
    deserializer = TypeDeserializer()
    rows = []
    for page in client.get_paginator("scan").paginate(TableName=TABLE):
        for item in page["Items"]:
            rows.append(_fix_sets({k: deserializer.deserialize(v) for k, v in item.items()}))
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, out / "orders.parquet", compression="zstd")
    return len(rows)


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    count = {"wr": run_wr, "boto3": run_boto3}[mode](out)
    print(f"ITEMS {count}")


if __name__ == "__main__":
    main()
