"""Format 1 vs format 2 vs gzipped DynamoDB JSON vs DuckDB's plain Parquet, same items, one run.

    nice -n 10 .venv/bin/python bench/format2/bench_format2.py --items 200000 --runs 3

Datasets (wire-form items, as a Scan returns them):

- ``orders``: ``ddblake.sampledata.orders`` as bench/scan's replay server serves them (its
  decimals keep trailing zeros, ``"12.50"``, which DynamoDB itself would return as ``"12.5"``);
- ``orders-dynamodb``: the same items with every number as DynamoDB returns it (normalized);
- ``users``: a users-like table: strings, decimal balances, integers, a map with a list, a
  string set, a number set, and binary (a 16-byte token on every item, a 32-byte avatar hash
  on a third of them).

Items are cut into parts of ``--part-mb`` MB of canonical item JSON (the exporter's default
target), as the exporter cuts them. Sizes: **format 1** = ``schemas.codec.PartBuilder`` parts,
**format 2** = ``schemas.rowcodec.RowPartBuilder`` parts against the schema the first part's
statistics create, both written as the lake writes parts (zstd, 128k-row groups);
**gzip JSON** = the items as native-export lines (``{"Item":...}``), gzip -6 (AWS's export);
**DuckDB plain** = ``read_ndjson`` of those lines -> ``COPY TO parquet (zstd)``, one file.
Encoder CPU (``time.process_time``): ``add`` of every item plus ``build`` of every part, and
the same plus writing each part as the lake does (Parquet bytes, their sha256), format 1 and
format 2 alternating, ``--runs`` times, GC disabled while timed (as the exporter does); the
median is reported. Items are fresh copies for every run (the builders take ownership).
"""

from __future__ import annotations

import argparse
import base64
import gc
import gzip
import hashlib
import io
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ddblake.sampledata import as_dynamodb_returns, orders, user  # noqa: E402
from lake.commit import COMPRESSION, ROW_GROUP_ROWS  # noqa: E402
from schemas.codec import PartBuilder  # noqa: E402
from schemas.dynamo_json import canonical_bytes  # noqa: E402
from schemas.keys import KeyAttribute, KeySchema  # noqa: E402
from schemas.rowcodec import RowPartBuilder  # noqa: E402
from schemas.rowparts import parquet_options  # noqa: E402
from schemas.table_schema import TableSchema, empty_schema, evolve  # noqa: E402

Items = list[dict[str, Any]]
ORDER_KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
USER_KEYS = KeySchema(KeyAttribute("user_id", "S"))


def users_like(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        item = user(i, rng)
        item["token"] = {"B": base64.b64encode(rng.randbytes(16)).decode("ascii")}
        item["scores"] = {"NS": sorted({str(rng.randint(0, 100)) for _ in range(3)})}
        item["created_at"] = {"N": str(1_300_000_000 + rng.randrange(300_000_000))}
        if rng.random() < 0.33:
            item["avatar"] = {"B": base64.b64encode(rng.randbytes(32)).decode("ascii")}
        yield item


def cut_parts(items: Items, part_bytes: int) -> list[list[bytes]]:
    """Wire texts of the items, cut where the canonical JSON reaches ``part_bytes``."""
    parts: list[list[bytes]] = [[]]
    size = 0
    for item in items:
        parts[-1].append(orjson.dumps(item))
        size += len(canonical_bytes(orjson.loads(parts[-1][-1])))
        if size >= part_bytes:
            parts.append([])
            size = 0
    return [p for p in parts if p]


def fresh(part: list[bytes]) -> Items:
    return [orjson.loads(t) for t in part]


def parquet_size(table: Any, **options: Any) -> tuple[int, Any]:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS,
                   **options)
    buffer.seek(0)
    return buffer.getbuffer().nbytes, pq.ParquetFile(buffer).metadata


def column_bytes(metadata: Any, into: dict[str, int]) -> None:
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            name = chunk.path_in_schema.split(".")[0]
            into[name] = into.get(name, 0) + chunk.total_compressed_size


def first_schema(name: str, parts: list[list[bytes]], keys: KeySchema) -> TableSchema:
    """Schema 1 as the first part of a new table creates it (from that part's stats)."""
    base = empty_schema(name, keys)
    builder = RowPartBuilder(base)
    builder.add_all(fresh(parts[0]))
    return evolve(base, builder.stats()) or base


def sizes(name: str, parts: list[list[bytes]], keys: KeySchema, schema: TableSchema,
          tmp: Path) -> dict[str, Any]:
    n = sum(len(p) for p in parts)
    f1 = f2 = rest_rows = whole = 0
    held_out: dict[str, int] = {}
    columns: dict[str, int] = {}
    for part in parts:
        f1 += parquet_size(_f1(part, keys))[0]
        encoded = _f2(part, schema)
        size, metadata = parquet_size(encoded.table, **parquet_options(schema))
        f2 += size
        column_bytes(metadata, columns)
        rest_rows += len(encoded.table) - encoded.table.column("_rest").null_count
        whole += encoded.whole_rows
        for column, count in encoded.held_out.items():
            held_out[column] = held_out.get(column, 0) + count
    lines = b"".join(b'{"Item":' + t + b"}\n" for p in parts for t in p)
    gz = len(gzip.compress(lines, compresslevel=6))
    plain = duckdb_plain(lines, tmp / f"{name}.json", tmp / f"{name}.parquet")
    per = {k: round(v / n, 1) for k, v in
           {"format1": f1, "format2": f2, "gzip_json": gz, "duckdb_plain": plain}.items()}
    return {"items": n, "parts": len(parts), "bytes_per_item": per,
            "format2_over_gzip": round(f2 / gz, 3), "format1_over_gzip": round(f1 / gz, 3),
            "format2_over_duckdb": round(f2 / plain, 3),
            "format2_rows_with_rest": rest_rows, "format2_rows_stored_whole": whole,
            "format2_values_held_out": held_out,
            "format2_column_bytes_per_item": {k: round(v / n, 2) for k, v in
                                              sorted(columns.items(), key=lambda kv: -kv[1])},
            "schema_columns": len(schema.columns)}


def _f1(part: list[bytes], keys: KeySchema) -> Any:
    builder = PartBuilder(keys)
    builder.add_all(fresh(part))
    return builder.build().table


def _f2(part: list[bytes], schema: TableSchema) -> Any:
    builder = RowPartBuilder(schema)
    builder.add_all(fresh(part))
    return builder.build()


def duckdb_plain(lines: bytes, json_path: Path, out: Path) -> int:
    import duckdb

    json_path.write_bytes(lines)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f"COPY (SELECT Item.* FROM read_ndjson('{json_path}', "
                f"format='newline_delimited')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    return out.stat().st_size


def encode_part(part: list[bytes], make: Callable[[], Any],
                write: Callable[[Any], Any] | None = None) -> tuple[float, Any]:
    """CPU seconds to add every item of one part (fresh copies, made untimed) and build
    it, and with ``write`` to write it as the lake does (Parquet bytes and their sha256);
    and the built part."""
    items = fresh(part)
    builder = make()
    gc.collect()
    gc.disable()
    start = time.process_time()
    builder.add_all(items)
    built = builder.build()
    if write is not None:
        write(built)
    elapsed = time.process_time() - start
    gc.enable()
    return elapsed, built


def encode_cpu(parts: list[list[bytes]], make: Callable[[], Any],
               write: Callable[[Any], Any] | None = None) -> float:
    """CPU µs/item of :func:`encode_part` over every part."""
    total = sum(encode_part(part, make, write)[0] for part in parts)
    return 1e6 * total / sum(len(part) for part in parts)


def write_f1(part: Any) -> str:
    return hashlib.sha256(parquet_bytes(part.table)).hexdigest()


def writer_f2(schema: TableSchema) -> Callable[[Any], str]:
    options = parquet_options(schema)
    return lambda part: hashlib.sha256(parquet_bytes(part.table, **options)).hexdigest()


def parquet_bytes(table: Any, **options: Any) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS,
                   **options)
    return buffer.getvalue()


def speed(parts: list[list[bytes]], keys: KeySchema, schema: TableSchema,
          runs: int) -> dict[str, Any]:
    """Median CPU µs/item of format 1 and format 2, runs alternating which goes first."""
    cases: dict[str, tuple[Callable[[], Any], Callable[[Any], Any] | None]] = {
        "format1": (lambda: PartBuilder(keys), None),
        "format2": (lambda: RowPartBuilder(schema), None),
        "format1+write": (lambda: PartBuilder(keys), write_f1),
        "format2+write": (lambda: RowPartBuilder(schema), writer_f2(schema)),
    }
    figures: dict[str, list[float]] = {name: [] for name in cases}
    for make, write in cases.values():  # warm every path once, not reported
        encode_cpu(parts[:1], make, write)
    for run in range(runs):
        order = list(cases.items())
        for name, (make, write) in order if run % 2 == 0 else order[::-1]:
            figures[name].append(encode_cpu(parts, make, write))
    return {"encode_us_per_item_median": {k: round(statistics.median(v), 1)
                                          for k, v in figures.items()},
            "encode_us_per_item_runs": {k: [round(x, 1) for x in v]
                                        for k, v in figures.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--part-mb", type=float, default=8.0)
    parser.add_argument("--only", default="orders,orders-dynamodb,users")
    args = parser.parse_args()
    part_bytes = int(args.part_mb * 1024 * 1024)
    datasets: dict[str, tuple[Callable[[], Items], KeySchema]] = {
        "orders": (lambda: list(orders(args.items)), ORDER_KEYS),
        "orders-dynamodb": (lambda: [as_dynamodb_returns(i) for i in orders(args.items)],
                            ORDER_KEYS),
        "users": (lambda: list(users_like(args.items)), USER_KEYS),
    }
    report: dict[str, Any] = {"python": platform.python_version(), "part_mb": args.part_mb,
                              "loadavg_1m_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory(prefix="ddblake-bench-f2-") as tmp:
        for name in args.only.split(","):
            make, keys = datasets[name]
            parts = cut_parts(make(), part_bytes)
            schema = first_schema(name, parts, keys)
            report[name] = {**sizes(name, parts, keys, schema, Path(tmp)),
                            **speed(parts, keys, schema, args.runs)}
    report["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
