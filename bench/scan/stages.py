"""Where one export worker's CPU goes, stage by stage, lake format 1 against format 2, in
one process (no profiler).

    .venv/bin/python bench/scan/stages.py --items 100000 --runs 5

The Scan pages the replay server sends (``orders`` items, ~1 MB pages; numbers as DynamoDB
returns them unless ``--numbers generated``) are parsed with orjson as the segment reader
does, fed to the format's builder until it holds the default part size, built, and written
as Parquet to memory with the lake's options. The two formats alternate part by part (which
goes first alternates too), so a slower minute of a shared machine weighs on both; each
run's ratio is format 2's total over format 1's. Warm-up first (one part of each, pyarrow's
first conversion); GC frozen and off, as in the exporter. CPU time per item of each stage.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[1]))

import orjson  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from codec_bench import KEYS, pages  # noqa: E402

import runtime.arrow_warmup  # noqa: E402,F401  (pyarrow's first conversion, as in a worker)
from bench.format2.bench_format2 import cut_parts, first_schema  # noqa: E402
from ddblake.sampledata import as_dynamodb_returns, orders  # noqa: E402
from exporter.config import DEFAULT_TARGET_MB  # noqa: E402
from lake.commit import COMPRESSION, ROW_GROUP_ROWS  # noqa: E402
from schemas.codec import PartBuilder  # noqa: E402
from schemas.rowcodec import RowPartBuilder  # noqa: E402
from schemas.rowparts import parquet_options  # noqa: E402

STAGES = ("orjson.loads", "add", "build", "Parquet write")


def writer(options: dict[str, Any]) -> Callable[[Any], None]:
    def write(part: Any) -> None:
        pq.write_table(part.table, pa.BufferOutputStream(), compression=COMPRESSION,
                       row_group_size=ROW_GROUP_ROWS, **options)
    return write


def run_part(bodies: list[bytes], make: Callable[[], Any], write: Callable[[Any], None],
             spent: dict[str, float]) -> None:
    """Parse, add, build and write one part's pages; add each stage's CPU to ``spent``."""
    builder = make()
    for body in bodies:
        start = time.process_time()
        items = orjson.loads(body)["Items"]
        spent["orjson.loads"] += time.process_time() - start
        start = time.process_time()
        builder.add_all(items)
        spent["add"] += time.process_time() - start
    start = time.process_time()
    part = builder.build()
    spent["build"] += time.process_time() - start
    start = time.process_time()
    write(part)
    spent["Parquet write"] += time.process_time() - start


def part_pages(bodies: list[bytes], limit: int) -> list[list[bytes]]:
    """The pages of each part, cut where a builder reaches ``limit`` bytes of item text."""
    cut: list[list[bytes]] = [[]]
    size = 0
    for body in bodies:
        cut[-1].append(body)
        size += len(body)
        if size >= limit:
            cut.append([])
            size = 0
    return [c for c in cut if c]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--numbers", choices=("dynamodb", "generated"), default="dynamodb")
    args = parser.parse_args()
    items = list(orders(args.items))
    if args.numbers == "dynamodb":
        items = [as_dynamodb_returns(i) for i in items]
    schema = first_schema("orders", cut_parts(items[:10_000], 1 << 30), KEYS)
    parts = part_pages(pages(items), int(DEFAULT_TARGET_MB * 1024 * 1024))
    del items
    cases = {"format1": (lambda: PartBuilder(KEYS), writer({})),
             "format2": (lambda: RowPartBuilder(schema), writer(parquet_options(schema)))}
    for make, write in cases.values():  # warm-up
        run_part(parts[0], make, write, dict.fromkeys(STAGES, 0.0))
    gc.collect()
    gc.freeze()
    gc.disable()
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in cases}
    for run in range(args.runs):
        spent = {label: dict.fromkeys(STAGES, 0.0) for label in cases}
        for index, bodies in enumerate(parts):
            order = list(cases.items())
            for label, (make, write) in order if (run + index) % 2 else order[::-1]:
                run_part(bodies, make, write, spent[label])
        for label in cases:
            runs[label].append(spent[label])
    report: dict[str, Any] = {"items": args.items, "numbers": args.numbers, "parts": len(parts),
                              "loadavg_1m": round(os.getloadavg()[0], 2)}
    for label, per_run in runs.items():
        report[label] = {stage: round(statistics.median(1e6 * r[stage] / args.items
                                                        for r in per_run), 1)
                         for stage in STAGES}
        report[label]["total"] = round(statistics.median(1e6 * sum(r.values()) / args.items
                                                         for r in per_run), 1)
    ratios = [sum(b.values()) / sum(a.values())
              for a, b in zip(runs["format1"], runs["format2"], strict=True)]
    report["format2_over_format1_runs"] = [round(r, 3) for r in ratios]
    report["format2_over_format1_median"] = round(statistics.median(ratios), 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
