"""Codec benchmark: µs/item to encode (wire items -> Arrow part) and decode (part -> items).

Baselines measured in the same run on the same items, as Scan response pages of ~1 MB:
- botocore's own response parsing of the page (what every boto3 scan pays per item);
- orjson parsing of the raw page body (the fast read path's first step).

CPU time (``time.process_time``) of this process, GC frozen after setup and disabled around
the timed regions (as the exporter does). Run: ``.venv/bin/python bench/codec_bench.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import botocore.session
import orjson
from botocore.parsers import create_parser

from ddblake.sampledata import orders
from schemas.codec import PartBuilder, decode_items
from schemas.keys import KeyAttribute, KeySchema

KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
PAGE_BYTES = 1_000_000


def pages(items: list[dict[str, Any]]) -> list[bytes]:
    """Scan response bodies of about 1 MB each, as DynamoDB would send them."""
    bodies, page, size = [], [], 0
    for item in items:
        page.append(item)
        size += len(orjson.dumps(item))
        if size >= PAGE_BYTES:
            bodies.append(_body(page))
            page, size = [], 0
    if page:
        bodies.append(_body(page))
    return bodies


def _body(page: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"Items": page, "Count": len(page), "ScannedCount": len(page)})


def _decode_all(table: Any) -> list[dict[str, Any]]:
    return list(decode_items(table))


def timed(fn: Callable[[], Any], count: int) -> float:
    gc.collect()
    gc.disable()
    start = time.process_time()
    fn()
    elapsed = time.process_time() - start
    gc.enable()
    return 1e6 * elapsed / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    items = list(orders(args.items))
    bodies = pages(items)
    sizes = [len(orjson.dumps(i)) for i in items]
    session = botocore.session.get_session()
    scan_shape = session.get_service_model("dynamodb").operation_model("Scan").output_shape
    botocore_parser = create_parser("json")
    gc.freeze()

    def botocore_parse() -> None:
        for body in bodies:
            botocore_parser.parse({"body": body, "headers": {}, "status_code": 200}, scan_shape)

    def raw_parse() -> list[dict[str, Any]]:
        return [i for body in bodies for i in orjson.loads(body)["Items"]]

    results: dict[str, list[float]] = {"botocore parse (baseline)": [], "orjson parse": [],
                                       "encode": [], "decode": []}
    for run in range(args.runs + 1):  # run 0 warms allocators and caches; not reported
        figures = {"botocore parse (baseline)": timed(botocore_parse, len(items)),
                   "orjson parse": timed(raw_parse, len(items))}
        builder = PartBuilder(KEYS)
        fresh = raw_parse()
        figures["encode"] = timed(partial(builder.add_all, fresh), len(items))
        start = time.process_time()
        table = builder.build().table
        figures["encode"] += 1e6 * (time.process_time() - start) / len(items)
        figures["decode"] = timed(partial(_decode_all, table), len(items))
        for name, value in figures.items():
            if run:
                results[name].append(value)
    report = {
        "items": len(items), "avg_item_json_bytes": round(sum(sizes) / len(sizes)),
        "pages": len(bodies), "python": platform.python_version(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "us_per_item_median": {k: round(statistics.median(v), 1) for k, v in results.items()},
        "us_per_item_runs": {k: [round(x, 1) for x in v] for k, v in results.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
