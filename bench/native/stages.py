"""Where the converter's time goes, per item, on one 50,000-item data file (CPU time).

    nice -n 10 .venv/bin/python bench/native/stages.py [--data /tmp/ddblake-bench-native]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/ddblake-bench-native"))
    args = parser.parse_args()
    import orjson

    from exporter.export_reader import iter_lines
    from lake.commit import write_parquet
    from lake.fileio import LocalFileIO
    from schemas.codec import PartBuilder
    from schemas.keys import KeyAttribute, KeySchema

    path = max((args.data / "bucket").rglob("*.json.gz"), key=lambda p: p.stat().st_size)
    keys = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
    gc.freeze()
    stages: dict[str, float] = {}

    def timed(name: str, fn):  # type: ignore[no-untyped-def]
        start = time.process_time()
        value = fn()
        stages[name] = time.process_time() - start
        return value

    lines = timed("gunzip + split lines", lambda: list(iter_lines(path, str(path))))
    n = len(lines)
    def parse_only() -> None:
        for line in lines:
            orjson.loads(line)

    builder = PartBuilder(keys)

    def parse_and_add() -> None:  # streaming, as the converter does: nothing kept but text
        for line in lines:
            builder.add(orjson.loads(line)["Item"])

    timed("orjson.loads", parse_only)
    timed("PartBuilder.add (canonical text, sha256)", parse_and_add)
    stages["PartBuilder.add (canonical text, sha256)"] -= stages["orjson.loads"]
    part = timed("PartBuilder.build (columns, sort)", builder.build)
    with tempfile.TemporaryDirectory() as tmp:
        timed("Parquet write (zstd)", lambda: write_parquet(LocalFileIO(tmp), "p.parquet",
                                                             part.table))
    total = sum(stages.values())
    print(f"{n} items from {path.name}")
    for name, seconds in stages.items():
        print(f"  {name:42s} {seconds * 1e6 / n:6.2f} us/item  {100 * seconds / total:4.1f} %")
    print(f"  {'total':42s} {total * 1e6 / n:6.2f} us/item -> {n / total:,.0f} items/s "
          "per core")


if __name__ == "__main__":
    main()
