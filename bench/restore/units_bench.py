"""Restore items/s: the driver selects and spools (``--engine local``) vs units that select
their own rows (restorer.slices, what ``--engine ray`` runs), on local worker processes,
same lake, same fake endpoint (bench/restore/fakeddb.py: writes cost nothing, so this is
the client's cost alone), same run.

    nice -n 10 .venv/bin/python bench/restore/units_bench.py --items 200000 --workers 2

Modes: ``spool`` (driver selects once, counts, spools; units read the spool), ``by-part``
(a snapshot: each unit reads its own parts, in a count, a write pass), ``by-key-hash``
(``--as-of``: each unit reads every part and keeps its key-hash bucket). Verification is
off (the fake endpoint cannot be read back). Prints one JSON line per mode.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench import build_lake  # noqa: E402

CHILD = """
import importlib, json, sys, time
mode, lake, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
restore_module = importlib.import_module("restorer.restore")
if mode != "spool":
    restore_module.units_select = lambda config, previous: True
from restorer.config import RestoreConfig
extra = {"as_of": sys.argv[4]} if mode == "by-key-hash" else {}
started = time.monotonic()
result = restore_module.restore(RestoreConfig(lake=lake, target="bench", existing=True,
                                workers=workers, verify=False, **extra))
seconds = time.monotonic() - started
print(json.dumps({"mode": mode, "items": result.written, "units": result.units,
                  "seconds": round(seconds, 2), "items_per_s": round(result.written / seconds)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", nargs="*", default=["spool", "by-part", "by-key-hash"])
    args = parser.parse_args()
    lake = build_lake(args.items)
    server = subprocess.Popen([sys.executable, str(HERE / "fakeddb.py"), "--table", "bench",
                               "--pk", "pk:S", "--sk", "sk:S"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        port = server.stdout.readline().strip()
        env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
               "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
               "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
               "PYTHONPATH": str(ROOT)}
        time.sleep(1.1)  # --as-of has whole seconds: after the lake's snapshot
        as_of = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        for mode in args.modes:
            time.sleep(1)
            out = subprocess.run([sys.executable, "-c", CHILD, mode, str(lake),
                                  str(args.workers), as_of], env=env, check=True,
                                 stdout=subprocess.PIPE, text=True)
            print(out.stdout.strip(), flush=True)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
