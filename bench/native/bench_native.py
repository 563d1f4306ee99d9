"""Native export conversion throughput: ddblake vs a naive Python conversion vs DuckDB.

    nice -n 10 .venv/bin/python bench/native/bench_native.py [--items 1000000]

Builds (once) a full export of ``--items`` sample orders in the real export layout
(50,000 items per gzip file, plus 2 empty partition files; numbers as DynamoDB returns
them unless ``--numbers generated``), then converts it to Parquet
with each method, each in a fresh subprocess (so peak RSS is the method's own):

* ``ddblake``: ``import_export`` with 2 worker processes (verified MD5/counts, canonical
  spine + sha256 + typed columns, manifest commit);
* ``ddblake-1proc``: the same in one process;
* ``ddblake-1proc-format1``: the same in one process, writing lake format 1 (the encoder
  before format 2: compare items/CPU-s with ``ddblake-1proc`` run alternately, e.g.
  ``--methods ddblake-1proc-format1,ddblake-1proc,ddblake-1proc-format1,ddblake-1proc``);
* ``naive``: ``json.loads`` + boto3 ``TypeDeserializer`` + pandas ``to_parquet`` per file,
  one process (sets turned into sorted lists, else pyarrow refuses them);
* ``duckdb``: ``read_ndjson`` of the listed files -> ``COPY ... TO parquet`` (2 threads);
* ``pyarrow-json``: ``pyarrow.json.read_json`` per file -> Parquet (no spine; reference).

Each method's process tree is measured with ``bench/proctree.py``: CPU of every process
(workers started by a fork server included), peak RSS and PSS summed over the tree. CPU
counts from the moment the method's clock starts (its libraries are imported before).
Results (items/s, MB/s of gzip input, CPU, peak memory, load average) go to stdout and
``bench/native/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
METHODS = ["ddblake", "ddblake-1proc", "naive", "duckdb", "pyarrow-json"]
PER_FILE = 50_000


def build(data: Path, items: int, numbers: str) -> str:
    """Write the export file by file (50,000 items each), so memory stays small."""
    marker = data / f"export-{items}{'' if numbers == 'dynamodb' else '-' + numbers}.txt"
    if marker.exists():
        return marker.read_text()
    from ddblake.sampledata import as_dynamodb_returns, orders
    from tests.native.export_builder import (
        EMPTY_GZIP,
        ExportBuilder,
        LocalBucket,
        b64md5,
        data_name,
        etag,
        gzip_lines,
    )

    bucket = LocalBucket(data / "bucket")
    builder = ExportBuilder(bucket)
    built = builder.full([], export_time=datetime(2026, 1, 1, tzinfo=UTC), files=0, empty=0)
    chunks = [orders(min(PER_FILE, items - s), start=s) for s in range(0, items, PER_FILE)]
    if numbers == "dynamodb":
        chunks = [map(as_dynamodb_returns, chunk) for chunk in chunks]
    for payload in [gzip_lines({"Item": i} for i in c) for c in chunks] + [EMPTY_GZIP] * 2:
        key = f"{built.export_dir}data/{data_name()}"
        bucket.put(key, payload)
        count = 0 if payload == EMPTY_GZIP else min(PER_FILE, items - len(built.files) * PER_FILE)
        built.files.append({"itemCount": count, "md5Checksum": b64md5(payload),
                            "etag": etag(payload), "dataFileS3Key": key})
    built.summary["itemCount"] = sum(f["itemCount"] for f in built.files)
    builder.write(built)
    marker.write_text(built.export_dir)
    return built.export_dir


def listed_files(data: Path, export_dir: str) -> list[Path]:
    lines = (data / "bucket" / export_dir / "manifest-files.json").read_bytes().splitlines()
    return [data / "bucket" / json.loads(line)["dataFileS3Key"] for line in lines if line]


def run_ddblake(data: Path, export_dir: str, out: Path, workers: int, lake_format: int) -> int:
    from exporter.import_export import import_export
    from exporter.native import ConvertConfig
    from lake.fileio import LocalFileIO
    from schemas.keys import KeyAttribute, KeySchema

    keys = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
    result = import_export(str(data / "bucket" / export_dir), LocalFileIO(out), keys=keys,
                           config=ConvertConfig(workers=workers, lake_format=lake_format))
    return result.items


def _plain(value: object) -> object:
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)  # type: ignore[type-var]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def run_naive(files: list[Path], out: Path) -> int:
    import gzip

    import pandas as pd
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for i, path in enumerate(files):
        rows = []
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                item = json.loads(line)["Item"]
                rows.append({k: _plain(deserializer.deserialize(v)) for k, v in item.items()})
        if rows:
            frame = pd.DataFrame(rows)
            for column in frame.columns:  # mixed/nested objects: JSON text, as naive tools do
                if frame[column].dtype == object and column not in ("pk", "sk"):
                    frame[column] = frame[column].map(lambda v: None if v is None or v != v
                                                      else json.dumps(v, default=str))
            frame.to_parquet(out / f"part-{i}.parquet", compression="zstd")
            count += len(rows)
    return count


def run_duckdb(files: list[Path], out: Path) -> int:
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    names = [str(p) for p in files]
    con.execute(f"COPY (SELECT Item.* FROM read_ndjson({names!r}, format='newline_delimited')) "
                f"TO '{out}/all.parquet' (FORMAT parquet, COMPRESSION zstd)")
    return int(con.execute(f"SELECT count(*) FROM '{out}/all.parquet'").fetchone()[0])


def run_pyarrow(files: list[Path], out: Path) -> int:
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for i, path in enumerate(files):
        if path.stat().st_size <= 20:  # an empty partition: pyarrow refuses empty JSON
            continue
        table = pj.read_json(path)
        if table.num_rows:
            pq.write_table(table, out / f"part-{i}.parquet", compression="zstd")
        count += table.num_rows
    return count


def _preload(method: str) -> None:
    """Import each method's libraries before the clock starts."""
    import pyarrow.parquet

    if method.startswith("ddblake"):
        import exporter.import_export  # noqa: F401
    elif method == "naive":
        import boto3.dynamodb.types  # noqa: F401
        import pandas  # noqa: F401
    elif method == "duckdb":
        import duckdb  # noqa: F401
    else:
        import pyarrow.json  # noqa: F401


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (all threads)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def one(method: str, data: Path, export_dir: str) -> dict[str, object]:
    out = data / f"out-{method}"
    shutil.rmtree(out, ignore_errors=True)
    files = listed_files(data, export_dir)
    _preload(method)
    cpu_before = _cpu_seconds()  # the tree's CPU is measured outside; this is subtracted
    started = time.perf_counter()
    if method.startswith("ddblake"):
        items = run_ddblake(data, export_dir, out, 1 if "-1proc" in method else 2,
                            1 if method.endswith("-format1") else 2)
    elif method == "naive":
        items = run_naive(files, out)
    elif method == "duckdb":
        items = run_duckdb(files, out)
    else:
        items = run_pyarrow(files, out)
    seconds = time.perf_counter() - started
    gz = sum(p.stat().st_size for p in files)
    out_bytes = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    shutil.rmtree(out, ignore_errors=True)
    return {"method": method, "items": items, "seconds": round(seconds, 2),
            "items_per_s": round(items / seconds), "gzip_mb_per_s": round(gz / seconds / 1e6, 1),
            "cpu_before_clock": cpu_before, "parquet_mb": round(out_bytes / 1e6, 1)}


def measured(method: str, args: argparse.Namespace) -> dict[str, object]:
    """Run one method in a fresh process tree; add its CPU and peak memory."""
    from proctree import measure

    load = os.getloadavg()
    tree = measure([sys.executable, __file__, "--items", str(args.items), "--data",
                    str(args.data), "--numbers", args.numbers, "--run", method],
                   dict(os.environ))
    if tree["returncode"] != 0:
        raise SystemExit(f"{method} failed:\n{tree['stderr']}")
    run = json.loads(str(tree["stdout"]).strip().splitlines()[-1])
    cpu = float(tree["cpu_s"]) - float(run.pop("cpu_before_clock"))
    run.update(cpu_seconds=round(cpu, 1), items_per_cpu_s=round(int(run["items"]) / cpu),
               peak_rss_mb=round(float(tree["peak_rss_mb"])),
               peak_pss_mb=round(float(tree["peak_pss_mb"])), load_1m_before=round(load[0], 2))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path, default=Path("/tmp/ddblake-bench-native"))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "native" / "results.json")
    parser.add_argument("--numbers", choices=("dynamodb", "generated"), default="dynamodb",
                        help="numbers as a real export holds them (normalized by DynamoDB) "
                             "or as generated (some with trailing zeros; runs before "
                             "2026-12-08 used these)")
    parser.add_argument("--run", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    export_dir = build(args.data, args.items, args.numbers)
    if args.run:
        print(json.dumps(one(args.run, args.data, export_dir)))
        return
    files = listed_files(args.data, export_dir)
    from exporter.gzip_lines import INFLATE

    results = {"items": args.items, "numbers": args.numbers, "files": len(files),
               "inflate": INFLATE.__name__,
               "gzip_mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
               "load_before": os.getloadavg(), "cpus": os.cpu_count(), "runs": []}
    from proctree import become_subreaper

    become_subreaper()
    for method in args.methods.split(","):
        run = measured(method, args)
        results["runs"].append(run)  # type: ignore[attr-defined]
        print(json.dumps(run), flush=True)
    results["load_after"] = os.getloadavg()
    args.results.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
