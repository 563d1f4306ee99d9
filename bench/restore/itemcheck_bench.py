"""Cost of the restore's item check (restorer/itemcheck.py) against the restore's own cost
per item, in the same run, on a format 2 snapshot of sample orders written to the fake
DynamoDB endpoint (fakeddb.py: client cost only).

    nice -n 10 .venv/bin/python bench/restore/itemcheck_bench.py --items 100000 --rounds 3

Each round restores twice in this process, check on and check off (``damaged_rows``
replaced by one that finds nothing), order alternating; a first restore warms the process
up (imports, DuckDB) and is not counted. Reported per item: the CPU time spent in the check
(thread CPU; driver and unit: every item is checked twice), the restore's wall time and the
process CPU (user+sys, all threads) of the whole restore, for both.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
TABLE = "bench"


def build_lake(n: int, lake: Path) -> Path:
    """A local lake with one format 2 snapshot of ``n`` sample orders (cached)."""
    if (lake / "done").exists():
        return lake
    from ddblake import sampledata
    from lake import layout
    from lake.fileio import LocalFileIO
    from lake.writers import SnapshotWriter, utc_now
    from schemas.keys import KeyAttribute, KeySchema
    from schemas.manifest import Consistency, Source

    keys = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
    writer = SnapshotWriter(LocalFileIO(lake), TABLE, layout.new_id(), keys)
    per = 50_000
    for seq, start in enumerate(range(0, n, per)):
        items = list(sampledata.orders(min(per, n - start), start=start))
        writer.write_part(layout.part_name(0, seq), writer.encode(items))
    description = {"TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                 {"AttributeName": "sk", "KeyType": "RANGE"}],
                   "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                            {"AttributeName": "sk", "AttributeType": "S"}]}
    now = utc_now()
    manifest = writer.commit(source=Source(TABLE, "scan"),
                             consistency=Consistency("fuzzy", now, now),
                             table_description=description)
    assert manifest.format_version == 2
    (lake / "done").write_text("ok")
    return lake


def one_restore(lake: Path, check: bool) -> dict[str, float]:
    from restorer import RestoreConfig, itemcheck, restore

    original = itemcheck.damaged_rows
    spent = [0.0, 0]

    def timed(batch: Any) -> list[int]:
        start = time.thread_time()  # CPU of this thread: the writer's threads run meanwhile
        found = original(batch) if check else []
        spent[0] += time.thread_time() - start
        spent[1] += batch.num_rows
        return found

    itemcheck.damaged_rows = timed  # type: ignore[assignment]
    try:
        config = RestoreConfig(lake=str(lake), target=TABLE, existing=True, verify=False,
                               workers=1, threads=2, unit_rows=50_000)
        c0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        result = restore(config)
        wall = time.perf_counter() - start
        c1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        itemcheck.damaged_rows = original  # type: ignore[assignment]
    n = result.selected
    assert result.written == n
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    return {"check_us": spent[0] / n * 1e6, "checked_per_item": spent[1] / n,
            "wall_us": wall / n * 1e6, "cpu_us": cpu / n * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lake", default=str(ROOT / "bench" / "out" / "itemcheck-lake"))
    args = parser.parse_args()
    lake = build_lake(args.items, Path(args.lake) / str(args.items))
    server = subprocess.Popen([sys.executable, str(HERE / "fakeddb.py")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="x",
                          AWS_SECRET_ACCESS_KEY="x", AWS_REGION="us-east-1",
                          AWS_DEFAULT_REGION="us-east-1")
        rows: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        one_restore(lake, True)  # warm-up
        for r in range(args.rounds):
            for check in ((True, False) if r % 2 == 0 else (False, True)):
                rows[check].append(one_restore(lake, check))
                print(f"round {r} check={check}: {rows[check][-1]}", flush=True)
    finally:
        server.terminate()
        server.wait()
    print(f"\n{args.items:,} items, format 2, medians of {args.rounds} rounds (µs/item)")
    print("| check | in the check | restore wall | restore CPU (process) |")
    print("|---|---:|---:|---:|")
    for check in (True, False):
        med = {k: statistics.median(r[k] for r in rows[check]) for k in rows[check][0]}
        print(f"| {'on' if check else 'off'} | {med['check_us']:.2f} | {med['wall_us']:.1f} | "
              f"{med['cpu_us']:.1f} |")


if __name__ == "__main__":
    main()
