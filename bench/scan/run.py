"""Scan -> snapshot benchmark: ddblake and its peers side by side, in one run.

    .venv/bin/python bench/scan/run.py --items 100000 --moto-items 20000

For each server (the replay server of pre-recorded pages, then moto's server) and each tool
(ddblake, awswrangler, dynamodump, a plain boto3 paginator), one fresh process runs the
export; this script records wall time, client CPU, peak RSS and peak PSS of the tool's whole
process tree (see ``bench/proctree.py``: workers included, also those a fork server starts)
and the output bytes. Peers run in
``bench/scan/.venv-peers`` (created from ``requirements-peers.txt`` when missing).
Results go to ``bench/scan/out/results-<server>-<n>.json``; ``report.py`` makes the table
and chart.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from proctree import become_subreaper, measure  # noqa: E402  (bench/ is on sys.path now)

ROOT = HERE.parents[1]
OURS = Path(sys.executable).parent
PEERS = HERE / ".venv-peers" / "bin"
OUT = HERE / "out"
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
         "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}


def ensure_peers() -> None:
    if (PEERS / "python").exists():
        return
    subprocess.run([sys.executable, "-m", "venv", str(PEERS.parent)], check=True)
    subprocess.run([str(PEERS / "pip"), "install", "-q", "-r",
                    str(HERE / "requirements-peers.txt")], check=True)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()
               and "/state/" not in p.as_posix())


def tools(endpoint: str, work: Path) -> dict[str, tuple[list[str], Path]]:
    host, port = endpoint.rsplit("/", 1)[1].split(":")
    return {
        "ddblake": ([str(OURS / "ddblake"), "export", "orders", "--lake", str(work / "ddblake"),
                     "--segments", "8", "--workers", "2", "-q", "--format", "json"],
                    work / "ddblake"),
        "awswrangler": ([str(PEERS / "python"), str(HERE / "peers.py"), "wr",
                         str(work / "awswrangler")], work / "awswrangler"),
        "boto3 paginator": ([str(PEERS / "python"), str(HERE / "peers.py"), "boto3",
                             str(work / "boto3")], work / "boto3"),
        "dynamodump": ([str(PEERS / "dynamodump"), "-m", "backup", "-r", "us-east-1",
                        "-s", "orders", "--host", host, "--port", port,
                        "--accessKey", "bench", "--secretKey", "bench",
                        "--dumpPath", str(work / "dynamodump")], work / "dynamodump"),
    }


def items_of(name: str, result: dict[str, Any], output: Path) -> int | None:
    if name == "ddblake":
        return int(json.loads(result["stdout"])["items"])
    if name == "dynamodump":
        return sum(len(json.loads(p.read_text())["Items"]) for p in output.rglob("data/*.json"))
    for line in result["stdout"].splitlines():
        if line.startswith("ITEMS "):
            return int(line.split()[1])
    return None


def gz_export_bytes(lines_path: Path) -> int:
    """The same items as a native export would write them: {"Item":...} lines, gzip -6."""
    with open(lines_path, "rb") as f:
        payload = b"".join(b'{"Item":' + line.rstrip(b"\n") + b"}\n" for line in f)
    return len(gzip.compress(payload, compresslevel=6))


NICE = 10  # --nice: polite on a shared machine; 0 on a quiet one (see README)


def run_all(server: str, endpoint: str, n: int, selected: list[str]) -> list[dict[str, Any]]:
    env = {**os.environ, **CREDS, "AWS_ENDPOINT_URL": endpoint,
           "AWS_EC2_METADATA_DISABLED": "true"}
    work = OUT / f"work-{server}-{n}"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    rows = []
    for name, (command, output) in tools(endpoint, work).items():
        if name not in selected:
            continue
        result = measure(["nice", "-n", str(NICE), *command], env)
        ok = result["returncode"] == 0
        items = items_of(name, result, output) if ok else None
        row = {"server": server, "n": n, "tool": name, "ok": ok and items == n, "items": items,
               "wall_s": round(result["wall_s"], 2), "cpu_s": round(result["cpu_s"], 2),
               "items_per_s": round(n / result["wall_s"]) if ok else None,
               "cpu_us_per_item": round(1e6 * result["cpu_s"] / n, 1) if ok else None,
               "peak_rss_mb": round(result["peak_rss_mb"]),
               "peak_pss_mb": round(result["peak_pss_mb"]),
               "output_bytes": dir_bytes(output) if output.exists() else 0,
               "load_avg": os.getloadavg()}
        if not row["ok"]:
            row["stderr"] = result["stderr"]
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def start(command: list[str], marker: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(marker):
            return proc, line.split()[1]
    raise RuntimeError(f"{command[0]} did not start")


def load_moto(endpoint: str, n: int) -> None:
    subprocess.run([sys.executable, str(HERE / "load_moto.py"), endpoint, str(n)],
                   env={**os.environ, **CREDS}, check=True, cwd=HERE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, nargs="+", default=[100_000])
    parser.add_argument("--moto-items", type=int, default=20_000, help="0 = skip moto")
    parser.add_argument("--skip-replay", action="store_true", help="only the moto server")
    parser.add_argument("--tools", default="ddblake,awswrangler,dynamodump,boto3 paginator")
    parser.add_argument("--nice", type=int, default=10,
                        help="niceness of every tool (the replay server and this harness run "
                             "at 0, so 10 favours them over the tool measured)")
    args = parser.parse_args()
    global NICE
    NICE = args.nice
    selected = args.tools.split(",")
    become_subreaper()
    ensure_peers()
    OUT.mkdir(exist_ok=True)
    for n in [] if args.skip_replay else args.items:
        server, port = start([sys.executable, str(HERE / "replay_server.py"), "--items", str(n)],
                             "PORT")
        try:
            endpoint = f"http://127.0.0.1:{port}"
            _warm(endpoint)
            rows = run_all("replay", endpoint, n, selected)
        finally:
            server.terminate()
        _save("replay", n, rows)
    if args.moto_items:
        n = args.moto_items
        server, port = start([sys.executable, "-u", "-c",
                              "from moto.server import ThreadedMotoServer as S; import time\n"
                              "s = S(ip_address='127.0.0.1', port=0, verbose=False); s.start()\n"
                              "print('PORT', s.get_host_and_port()[1], flush=True)\n"
                              "time.sleep(10**6)"], "PORT")
        try:
            endpoint = f"http://127.0.0.1:{port}"
            load_moto(endpoint, n)
            rows = run_all("moto", endpoint, n, selected)
        finally:
            server.terminate()
        _save("moto", n, rows)


def _warm(endpoint: str) -> None:
    """Build the server's pages for 1 and 8 segments before any timing."""
    import boto3

    client = boto3.client("dynamodb", endpoint_url=endpoint, **{
        "aws_access_key_id": "bench", "aws_secret_access_key": "bench",
        "region_name": "us-east-1"})
    for total in (1, 8):
        client.scan(TableName="orders", Segment=0, TotalSegments=total, Limit=1)


def _save(server: str, n: int, rows: list[dict[str, Any]]) -> None:
    gz = gz_export_bytes(HERE / ".cache" / f"orders-{n}.jsonl")
    path = OUT / f"results-{server}-{n}.json"
    if path.exists():  # keep earlier rows of tools not run this time
        earlier = json.loads(path.read_text())["rows"]
        rows = [r for r in earlier if r["tool"] not in {x["tool"] for x in rows}] + rows
    path.write_text(json.dumps({"server": server, "n": n, "gz_export_bytes": gz,
                                "rows": rows}, indent=1))
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
