"""Where one export worker's CPU goes, stage by stage, in one process (no profiler).

    .venv/bin/python bench/scan/stages.py --items 100000

The same Scan pages the replay server sends (``orders`` items, ~1 MB pages) are parsed with
orjson, fed to a :class:`PartBuilder` cut at the default part size, built, and written as
Parquet to memory. Warm-up first (pyarrow's first conversion, one part); GC frozen and off,
as in the exporter. CPU time per item of each stage.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import orjson  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from codec_bench import KEYS, pages  # noqa: E402

import runtime.arrow_warmup  # noqa: E402,F401  (pyarrow's first conversion, as in a worker)
from ddblake.sampledata import orders  # noqa: E402
from exporter.config import DEFAULT_TARGET_MB  # noqa: E402
from lake.commit import COMPRESSION, ROW_GROUP_ROWS  # noqa: E402
from schemas.codec import EncodedPart, PartBuilder  # noqa: E402


def write(part: EncodedPart) -> None:
    pq.write_table(part.table, pa.BufferOutputStream(), compression=COMPRESSION,
                   row_group_size=ROW_GROUP_ROWS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    bodies = pages(list(orders(args.items)))
    warm = PartBuilder(KEYS)
    warm.add_all(orjson.loads(bodies[0])["Items"])
    write(warm.build())
    gc.collect()
    gc.freeze()
    gc.disable()
    spent = dict.fromkeys(("orjson.loads", "PartBuilder.add", "PartBuilder.build",
                           "Parquet write"), 0.0)
    limit = int(DEFAULT_TARGET_MB * 1024 * 1024)
    builder, parts = PartBuilder(KEYS), []
    for i, body in enumerate(bodies):
        start = time.process_time()
        items = orjson.loads(body)["Items"]
        spent["orjson.loads"] += time.process_time() - start
        start = time.process_time()
        builder.add_all(items)
        spent["PartBuilder.add"] += time.process_time() - start
        if builder.item_bytes >= limit or i == len(bodies) - 1:
            start = time.process_time()
            parts.append(builder.build())
            spent["PartBuilder.build"] += time.process_time() - start
            builder = PartBuilder(KEYS)
    for part in parts:
        start = time.process_time()
        write(part)
        spent["Parquet write"] += time.process_time() - start
    for stage, seconds in spent.items():
        print(f"{stage:18s} {1e6 * seconds / args.items:6.1f} us/item")
    print(f"{'total':18s} {1e6 * sum(spent.values()) / args.items:6.1f} us/item")


if __name__ == "__main__":
    main()
