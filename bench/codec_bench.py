"""Codec benchmark: µs/item to encode (wire items -> Arrow part) and decode (part -> items).

Baselines measured in the same run on the same items, as Scan response pages of ~1 MB:
- botocore's own response parsing of the page (what every boto3 scan pays per item);
- orjson parsing of the raw page body (the fast read path's first step).

Then format 1 against format 2 (``--tables``, same run, same items): bench/scan's ``orders``
and the users-like table of bench/format2, each as generated (some numbers with trailing
zeros, as a client may send them) and as DynamoDB returns them (``-dynamodb``: numbers
normalized, what a scan or a native export of a real table holds), cut into parts of
``--part-mb`` of canonical JSON as the exporter cuts them (format 2 against the schema the
first part creates); per part ``add`` of fresh copies (made untimed) and ``build``
(*encode*), the part written as the lake writes it (*write*) and decoded; the formats
alternate part by part.

CPU time (``time.process_time``) of this process, GC frozen after setup and disabled around
the timed regions (as the exporter does). Run from the repository root with
``PYTHONPATH=$PWD .venv/bin/python bench/codec_bench.py`` (``PYTHONPATH`` picks the code
measured: another checkout's root measures that checkout with this script).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import botocore.session
import orjson
from botocore.parsers import create_parser

try:  # the checkout on PYTHONPATH; else this script's own
    import bench.format2.bench_format2 as format2
except ModuleNotFoundError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
    import bench.format2.bench_format2 as format2
from ddblake.sampledata import as_dynamodb_returns, orders
from schemas.codec import PartBuilder, decode_items
from schemas.keys import KeyAttribute, KeySchema
from schemas.rowcodec import RowPartBuilder
from schemas.rowcodec import decode_items as decode_rows

KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
USER_KEYS = KeySchema(KeyAttribute("user_id", "S"))
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


def cpu_of(step: Callable[[], Any]) -> float:
    """CPU seconds of one step, GC disabled around it."""
    gc.collect()
    gc.disable()
    start = time.process_time()
    step()
    elapsed = time.process_time() - start
    gc.enable()
    return elapsed


def formats(name: str, items: list[dict[str, Any]], keys: KeySchema, runs: int,
            part_bytes: int) -> dict[str, Any]:
    """Format 1 vs format 2 µs/item, same items: encode (add + build), write (the built
    part to Parquet bytes with the lake's options, and their sha256, as the lake writes a
    part) and decode. The formats alternate part by part (which goes first alternates too),
    so a slower minute of a shared machine weighs on both; a run's ratio is of its two
    totals."""
    parts = format2.cut_parts(items, part_bytes)
    schema = format2.first_schema(name, parts, keys)
    n = sum(len(p) for p in parts)
    cases = {"format1": (lambda: PartBuilder(keys), format2.write_f1,
                         lambda p: list(decode_items(p.table))),
             "format2": (lambda: RowPartBuilder(schema), format2.writer_f2(schema),
                         lambda p: decode_rows(p.table, schema))}
    figures: dict[str, list[float]] = {f"{k} {step}": [] for k in cases
                                       for step in ("encode", "write", "decode")}
    for run in range(runs + 1):  # run 0 warms every path; not reported
        seconds = dict.fromkeys(figures, 0.0)
        for index, part in enumerate(parts):
            order = list(cases.items())
            for label, (make, write, decode) in order if (run + index) % 2 else order[::-1]:
                encoded, built = format2.encode_part(part, make)
                seconds[f"{label} encode"] += encoded
                seconds[f"{label} write"] += cpu_of(partial(write, built))
                seconds[f"{label} decode"] += cpu_of(partial(decode, built))
        if run:
            for key, value in seconds.items():
                figures[key].append(1e6 * value / n)
    encode = _ratios(figures, "encode")
    written = _ratios(figures, "encode", "write")
    return {"items": n, "parts": len(parts),
            "us_per_item_median": {k: round(statistics.median(v), 1) for k, v in figures.items()},
            "us_per_item_min": {k: round(min(v), 1) for k, v in figures.items()},
            "us_per_item_runs": {k: [round(x, 1) for x in v] for k, v in figures.items()},
            "format2_over_format1_encode_runs": [round(r, 3) for r in encode],
            "format2_over_format1_encode_median": round(statistics.median(encode), 3),
            "format2_over_format1_encode_write_runs": [round(r, 3) for r in written],
            "format2_over_format1_encode_write_median": round(statistics.median(written), 3)}


def _ratios(figures: dict[str, list[float]], *steps: str) -> list[float]:
    """Per run: format 2's time over format 1's for these steps together."""
    def total(label: str) -> list[float]:
        return [sum(run) for run in zip(*(figures[f"{label} {s}"] for s in steps),
                                        strict=True)]
    return [b / a for a, b in zip(total("format1"), total("format2"), strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tables", default="orders-dynamodb,users-dynamodb,orders,users",
                        help="format 1 vs 2 on these tables ('' to skip); -dynamodb: every "
                             "number as DynamoDB returns it")
    parser.add_argument("--part-mb", type=float, default=8.0)
    parser.add_argument("--skip-pages", action="store_true",
                        help="skip the Scan-page section (botocore, orjson, format 1 codec)")
    args = parser.parse_args()
    report: dict[str, Any] = {"python": platform.python_version(),
                              "loadavg_1m_start": round(os.getloadavg()[0], 2)}
    if not args.skip_pages:
        report["pages"] = page_figures(args.items, args.runs)
    tables: dict[str, tuple[Callable[[], list[dict[str, Any]]], KeySchema]] = {
        "orders": (lambda: list(orders(args.items)), KEYS),
        "users": (lambda: list(format2.users_like(args.items)), USER_KEYS)}
    for name in filter(None, args.tables.split(",")):
        make, keys = tables[name.removesuffix("-dynamodb")]
        if name.endswith("-dynamodb"):
            make = partial(lambda plain: [as_dynamodb_returns(i) for i in plain()], make)
        report[name] = formats(name, make(), keys, args.runs, int(args.part_mb * 1024 * 1024))
    report["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


def page_figures(count: int, runs: int) -> dict[str, Any]:
    """botocore and orjson parsing of Scan pages, format 1 encode and decode (as before)."""
    items = list(orders(count))
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
    for run in range(runs + 1):  # run 0 warms allocators and caches; not reported
        figures = {"botocore parse (baseline)": timed(botocore_parse, len(items)),
                   "orjson parse": timed(raw_parse, len(items))}
        builder = PartBuilder(KEYS)
        wire = raw_parse()
        figures["encode"] = timed(partial(builder.add_all, wire), len(items))
        start = time.process_time()
        table = builder.build().table
        figures["encode"] += 1e6 * (time.process_time() - start) / len(items)
        figures["decode"] = timed(partial(_decode_all, table), len(items))
        for name, value in figures.items():
            if run:
                results[name].append(value)
    return {
        "items": len(items), "avg_item_json_bytes": round(sum(sizes) / len(sizes)),
        "pages": len(bodies),
        "us_per_item_median": {k: round(statistics.median(v), 1) for k, v in results.items()},
        "us_per_item_runs": {k: [round(x, 1) for x in v] for k, v in results.items()},
    }


if __name__ == "__main__":
    main()
