"""Restore throughput: ddblake vs boto3 batch_writer, client.batch_write_item, awswrangler
put_df and dynamodump, against a fast fake endpoint (client cost) and moto's server.

    nice -n 10 .venv/bin/python bench/restore/bench.py --sizes 100000 1000000
    nice -n 10 .venv/bin/python bench/restore/bench.py --moto --sizes 5000

Every method runs in a fresh process; results are appended to bench/out/restore.jsonl and
printed as a Markdown table. The peers' venv (awswrangler pins another pyarrow) is made by
``--make-peers-venv`` from requirements-peers.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OUT = ROOT / "bench" / "out"
PEERS_PY = HERE / ".venv-peers" / "bin" / "python"
TABLE = "bench"


def build_lake(n: int) -> Path:
    """A local lake with one snapshot of ``n`` sample orders (cached by size)."""
    lake = OUT / f"restore-lake-{n}"
    if (lake / "done").exists():
        return lake
    sys.path.insert(0, str(ROOT))
    from ddblake import sampledata
    from lake import layout
    from lake.fileio import LocalFileIO
    from lake.writers import SnapshotWriter, utc_now
    from schemas.codec import encode_items
    from schemas.keys import KeyAttribute, KeySchema
    from schemas.manifest import Consistency, Source

    keys = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
    writer = SnapshotWriter(LocalFileIO(lake), TABLE, layout.new_id(), keys)
    per = 50_000
    for seq, start in enumerate(range(0, n, per)):
        part = encode_items(sampledata.orders(min(per, n - start), start=start), keys)
        writer.write_part(layout.part_name(0, seq), part)
    description = {"TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                 {"AttributeName": "sk", "KeyType": "RANGE"}],
                   "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                            {"AttributeName": "sk", "AttributeType": "S"}]}
    now = utc_now()
    writer.commit(source=Source(TABLE, "scan"), consistency=Consistency("fuzzy", now, now),
                  table_description=description)
    (lake / "done").write_text("ok")
    return lake


def run_ddblake() -> None:
    """In a fresh process: restore the lake into the (existing) bench table."""
    lake, workers, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE.parent))
    from proctree import become_subreaper

    from restorer import RestoreConfig, restore

    become_subreaper()  # worker processes orphaned by the fork server are reaped here
    config = RestoreConfig(lake=lake, target=TABLE, existing=True, verify=False,
                           workers=workers, threads=threads, unit_rows=50_000)
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    k0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = restore(config)
    wall = time.perf_counter() - start
    _stop_fork_server()
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
           + k1.ru_utime + k1.ru_stime - k0.ru_utime - k0.ru_stime)
    print(json.dumps({"method": f"ddblake workers={workers} threads={threads}",
                      "items": result.written,
                      "wall": wall, "cpu": cpu,
                      "rss_mb": max(c1.ru_maxrss, k1.ru_maxrss) / 1024,
                      "note": "end to end: reads Parquet, validates, writes"}))


def _stop_fork_server() -> None:
    """Workers are children of the fork server, not of this process: stop (and reap) it, so
    its CPU, which includes the workers' it reaped, counts in RUSAGE_CHILDREN."""
    import multiprocessing.forkserver as forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()


def _stats(endpoint: str, path: str) -> dict[str, Any]:
    import urllib.request

    method = "POST" if path == "/reset" else "GET"
    request = urllib.request.Request(endpoint + path, method=method, data=b"" if
                                     method == "POST" else None)
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def _run(command: list[str], env: dict[str, str]) -> dict[str, Any] | None:
    """Run one method in a fresh process tree; peak RSS and PSS of the whole tree come from
    ``bench/proctree.py`` (PSS counts pages a forked worker shares with its parent once)."""
    sys.path.insert(0, str(HERE.parent))
    from proctree import measure

    result = measure(["nice", "-n", "10", *command], env)
    if result["returncode"] != 0:
        print(f"  FAILED: {result['stderr'].strip()[-600:]}", file=sys.stderr)
        return None
    row = dict(json.loads(result["stdout"].strip().splitlines()[-1]))
    row["rss_mb"] = result["peak_rss_mb"] * 1e6 / 2**20
    row["pss_mb"] = result["peak_pss_mb"] * 1e6 / 2**20
    return row


def _methods(lake: Path, moto: bool) -> list[tuple[str, list[str]]]:
    parts = str(next((lake / TABLE / "snapshots").iterdir()) / "data")
    me = [sys.executable, str(HERE / "bench.py")]
    methods = [("ddblake-1", [*me, "run-ddblake", str(lake), "1", "2"]),
               ("ddblake-1t1", [*me, "run-ddblake", str(lake), "1", "1"]),
               ("ddblake-2", [*me, "run-ddblake", str(lake), "2", "2"]),
               ("batch_writer", [sys.executable, str(HERE / "peers.py"), "batch_writer",
                                 parts, TABLE]),
               ("client_batch", [sys.executable, str(HERE / "peers.py"), "client_batch",
                                 parts, TABLE])]
    if PEERS_PY.exists():
        methods += [(m, [str(PEERS_PY), str(HERE / "peers.py"), m, parts, TABLE])
                    for m in ("wrangler", "dynamodump")]
    return methods


def _endpoint(moto: bool) -> tuple[str, subprocess.Popen[str]]:
    if moto:
        code = ("from moto.server import ThreadedMotoServer as S; import time, sys; "
                "s=S(ip_address='127.0.0.1', port=0, verbose=False); s.start(); "
                "print(s.get_host_and_port()[1], flush=True); time.sleep(86400)")
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    else:
        proc = subprocess.Popen([sys.executable, str(HERE / "fakeddb.py")],
                                stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return f"http://127.0.0.1:{proc.stdout.readline().strip()}", proc


def _moto_table(env: dict[str, str], fresh: bool) -> None:
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    if fresh and TABLE in ddb.list_tables()["TableNames"]:
        ddb.delete_table(TableName=TABLE)
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", KeySchema=[
        {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])


def bench(sizes: list[int], moto: bool, only: set[str] | None) -> None:
    OUT.mkdir(exist_ok=True)
    endpoint, server = _endpoint(moto)
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(ROOT)}
    rows = []
    try:
        for n in sizes:
            lake = build_lake(n)
            for name, command in _methods(lake, moto):
                if only and name not in only:
                    continue
                if moto:
                    _moto_table(env, fresh=True)
                else:
                    _stats(endpoint, "/reset")
                load = os.getloadavg()[0]
                row = _run(command, env)
                if row is None:
                    continue
                arrived = row["items"] if moto else _stats(endpoint, "/stats")["items"]
                row.update(size=n, arrived=arrived, load1=round(load, 2),
                           load1_end=round(os.getloadavg()[0], 2),
                           endpoint="moto" if moto else "fake",
                           items_per_s=row["items"] / row["wall"],
                           cpu_us_per_item=1e6 * row["cpu"] / row["items"])
                rows.append(row)
                print(json.dumps(row), flush=True)
                with open(OUT / "restore.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")
    finally:
        server.kill()
    _table(rows)


def _table(rows: list[dict[str, Any]]) -> None:
    print("\n| endpoint | items | method | items/s | client CPU us/item | peak RSS MB | "
          "peak PSS MB | arrived | load1 start/end |\n|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['endpoint']} | {r['size']:,} | {r['method']} | {r['items_per_s']:,.0f} | "
              f"{r['cpu_us_per_item']:.1f} | {r['rss_mb']:.0f} | {r.get('pss_mb', 0):.0f} | "
              f"{r['arrived']:,} | "
              f"{r['load1']}/{r.get('load1_end', '')} |")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "run-ddblake":
        run_ddblake()
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--moto", action="store_true", help="against moto's server")
    parser.add_argument("--only", default=None, help="comma-separated method names")
    parser.add_argument("--make-peers-venv", action="store_true")
    args = parser.parse_args()
    if args.make_peers_venv:
        subprocess.run([sys.executable, "-m", "venv", str(HERE / ".venv-peers")], check=True)
        subprocess.run([str(PEERS_PY), "-m", "pip", "install", "-q", "-r",
                        str(HERE / "requirements-peers.txt")], check=True)
    bench(args.sizes, args.moto, set(args.only.split(",")) if args.only else None)


if __name__ == "__main__":
    main()
