"""How the engines scale when the service, not the CPU, sets the pace.

    .venv/bin/python bench/runtime/scaling.py --items 40000 --latency-ms 25 --runs 3

A scan export (16 segments, 100-item pages) against the replay server (bench/scan), which
holds every Scan answer ``--latency-ms`` before sending it, with 1, 2, 4 and 8 workers: local
worker processes, then Ray (a local Ray with 8 logical CPUs, loopback only, started once
before the timed runs and stopped after). Reports the median items/s of ``--runs`` runs and
the speed-up over 1 worker of the same engine, in one run of this script.

Why 100-item pages and 25 ms: a 100-item page costs the client about 4 ms of CPU (about
40 us per item, README), so even 8 workers on 2 cores keep the CPU well below saturation,
and what is measured is the engine keeping requests in flight. 25 ms is an assumed
round trip for a small Scan request inside one AWS region, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
WORKERS = (1, 2, 4, 8)
SEGMENTS = 16
PAGE = 100
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
         "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def start_server(items: int, latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "scan" / "replay_server.py"),
                               "--items", str(items), "--latency-ms", str(latency_ms)],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    port = server.stdout.readline().split()[1]
    return server, f"http://127.0.0.1:{port}"


def one_export(workers: int, executor: Any) -> dict[str, Any]:
    from exporter import ExportConfig, export_table

    lake = tempfile.mkdtemp(prefix="ddblake-scaling-")
    try:
        config = ExportConfig(table="orders", lake=lake, workers=workers, segments=SEGMENTS,
                              page_limit=PAGE, engine="ray" if executor else "local")
        started = time.monotonic()
        result = export_table(config, executor=executor)
        seconds = time.monotonic() - started
        return {"items": result.manifest.totals.items, "seconds": seconds,
                "digest": result.manifest.totals.content_digest}
    finally:
        shutil.rmtree(lake, ignore_errors=True)


def series(engine: str, runs: int) -> list[dict[str, Any]]:
    rows = []
    for workers in WORKERS:
        def executor(n: int = workers) -> Any:
            if engine == "local":
                return None
            from runtime.ray_engine import RayExecutor

            return RayExecutor(n)

        one_export(workers, executor())  # warm: fork server / Ray workers
        timed = [one_export(workers, executor()) for _ in range(runs)]
        rate = statistics.median(t["items"] / t["seconds"] for t in timed)
        rows.append({"engine": engine, "workers": workers, "items_per_s": round(rate),
                     "seconds": round(statistics.median(t["seconds"] for t in timed), 2),
                     "digests": len({t["digest"] for t in timed})})
        print(rows[-1], file=sys.stderr, flush=True)
    base = rows[0]["items_per_s"]
    for row in rows:
        row["speedup"] = round(row["items_per_s"] / base, 2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=40_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", default="local,ray")
    args = parser.parse_args()
    server, endpoint = start_server(args.items, args.latency_ms)
    os.environ.update({**CREDS, "AWS_ENDPOINT_URL": endpoint,  # workers inherit these
                       "PYTHONPATH": os.pathsep.join(filter(None, [
                           str(ROOT), os.environ.get("PYTHONPATH")]))})
    rows: list[dict[str, Any]] = []
    try:
        for engine in args.engines.split(","):
            if engine == "ray":
                import ray

                from runtime.ray_engine import loopback_only

                loopback_only()
                ray.init(num_cpus=max(WORKERS), include_dashboard=False, log_to_driver=False)
            try:
                rows += series(engine, args.runs)
            finally:
                if engine == "ray":
                    ray.shutdown()
    finally:
        server.terminate()
    print(f"{args.items} items, {SEGMENTS} segments, {PAGE}-item pages, "
          f"{args.latency_ms:g} ms per Scan request; median of {args.runs} runs\n")
    print("| engine | workers | items/s | speed-up | seconds |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['engine']} | {row['workers']} | {row['items_per_s']:,} | "
              f"{row['speedup']}x | {row['seconds']} |")
    out = Path(__file__).with_name("results-scaling.json")
    out.write_text(json.dumps({"items": args.items, "latency_ms": args.latency_ms,
                               "runs": args.runs, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
