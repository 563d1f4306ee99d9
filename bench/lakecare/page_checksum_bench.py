"""What do Parquet page checksums cost? Bench-like parts of sample orders, written the way
``lake.commit.write_parquet`` writes them (zstd, 128k-row groups), with and without
``write_page_checksum``; read back as ``verify --deep`` reads them (``_item`` and
``_item_sha256`` in 8,192-row batches), with and without ``page_checksum_verification``.

    nice -n 10 .venv/bin/python bench/lakecare/page_checksum_bench.py 14000 50000

Times are CPU time of the process (all threads), less sensitive to a shared machine than
wall time; runs alternate (off, on, off, on, ...) and medians are printed.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ddblake.sampledata import orders
from lake.commit import COMPRESSION, ROW_GROUP_ROWS
from schemas.codec import ITEM, ITEM_SHA, encode_items
from schemas.keys import KeyAttribute, KeySchema

KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
RUNS = 11


def write(table: pa.Table, path: Path, checksum: bool) -> float:
    started = time.process_time()
    pq.write_table(table, path, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS,
                   write_page_checksum=checksum)
    return time.process_time() - started


def read(path: Path, verify: bool) -> float:
    started = time.process_time()
    parquet = pq.ParquetFile(path, page_checksum_verification=verify)
    for batch in parquet.iter_batches(columns=[ITEM, ITEM_SHA], batch_size=8192):
        batch.column(ITEM_SHA)
    return time.process_time() - started


def bench(items: int, tmp: Path) -> None:
    table = encode_items(list(orders(items)), KEYS).table
    off, on = tmp / "off.parquet", tmp / "on.parquet"
    times: dict[str, list[float]] = {"write off": [], "write on": [], "read off": [],
                                     "read on": []}
    for _ in range(RUNS):
        times["write off"].append(write(table, off, False))
        times["write on"].append(write(table, on, True))
        times["read off"].append(read(off, False))
        times["read on"].append(read(on, True))
    size_off, size_on = off.stat().st_size, on.stat().st_size
    print(f"\n{items:,} items, {table.num_columns} columns")
    print("| | without | with page checksums | cost |\n|---|---:|---:|---:|")
    print(f"| bytes | {size_off:,} | {size_on:,} | +{size_on - size_off:,} "
          f"({100 * (size_on - size_off) / size_off:.3f} %) |")
    for what in ("write", "read"):
        a = statistics.median(times[f"{what} off"])
        b = statistics.median(times[f"{what} on"])
        print(f"| {what} CPU (median of {RUNS}) | {a * 1000:.1f} ms | {b * 1000:.1f} ms | "
              f"{100 * (b - a) / a:+.1f} % |")


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [14_000, 50_000]
    with tempfile.TemporaryDirectory(prefix="ddblake-crc-bench-") as tmp:
        for items in sizes:
            bench(items, Path(tmp))


if __name__ == "__main__":
    main()
