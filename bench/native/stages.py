"""Where the converter's CPU time goes, per item, on one 50,000-item data file.

    nice -n 10 .venv/bin/python bench/native/stages.py [--data /tmp/ddblake-bench-native]

Each stage runs on a warm process (one conversion first, so one-time costs such as pyarrow's
lazy kernel registration are not charged to a stage) and is timed ``--repeat`` times; the
best run counts (CPU time of all threads, so pyarrow's threads are included). The stages
are the ones ``exporter.native.convert_file`` runs, in its order; the last line times
``convert_file`` itself on the same file, to check that the stages add up.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def best_cpu(fn: Callable[[], Any], repeat: int) -> float:
    """The least CPU seconds of ``repeat`` runs of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def stage_functions(path: Path, repeat: int) -> tuple[int, dict[str, Callable[[], Any]],
                                                    Callable[[], Any]]:
    """(items, {stage: fn}, convert_file on this file) for the data file at ``path``."""
    from exporter.export_reader import DataFile, b64_md5, verify_md5
    from exporter.gzip_lines import iter_lines
    from exporter.native import ConvertConfig, FileTask, _item_of, convert_file
    from lake.fileio import LocalFileIO
    from lake.writers import SnapshotWriter
    from schemas.codec import PartBuilder
    from schemas.keys import KeyAttribute, KeySchema

    keys = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
    uri, names = str(path), keys.names
    lines = list(iter_lines(path, uri))
    data_file = DataFile(path.name, len(lines), b64_md5(path.read_bytes()))
    lake = LocalFileIO(tempfile.mkdtemp(prefix="ddblake-stages-"))
    writer = SnapshotWriter(lake, "T", "01767225600000-00000000", keys)

    def parse() -> None:
        for number, line in enumerate(lines, 1):
            _item_of(line, uri, number, names)

    def parse_add() -> Any:
        builder = PartBuilder(keys)
        for number, line in enumerate(lines, 1):
            builder.add(_item_of(line, uri, number, names))
        return builder

    filled = [parse_add() for _ in range(repeat + 1)]  # a builder builds once
    part = filled.pop().build()
    task = FileTask(0, data_file, str(path.parent), lake.uri, "T", "01767225600000-00000001",
                    keys, ConvertConfig(workers=1))
    stages = {
        "MD5 of the gzip bytes": lambda: verify_md5(path, data_file, uri),
        "gunzip + split lines": lambda: sum(1 for _ in iter_lines(path, uri)),
        "orjson.loads + key check per line": parse,
        "PartBuilder.add (canonical text, sha256)": parse_add,
        "PartBuilder.build (columns, key sort)": lambda: filled.pop().build(),
        "write part (Parquet zstd, sha256, put)": lambda: writer.write_part("p.parquet", part),
    }
    return len(lines), stages, lambda: convert_file(LocalFileIO(path.parent), lake, task)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/ddblake-bench-native"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from exporter.gzip_lines import INFLATE

    path = max((args.data / "bucket").rglob("*.json.gz"), key=lambda p: p.stat().st_size)
    n, stages, whole = stage_functions(path, args.repeat)
    whole()  # warm-up: pyarrow kernels, the JSON reader, the Parquet writer
    gc.freeze()
    seconds = {name: best_cpu(fn, args.repeat) for name, fn in stages.items()}
    seconds["PartBuilder.add (canonical text, sha256)"] -= seconds[
        "orjson.loads + key check per line"]
    total = sum(seconds.values())
    print(f"{n} items from {path.name}, inflate: {INFLATE.__name__}")
    for name, value in seconds.items():
        print(f"  {name:42s} {value * 1e6 / n:6.2f} us/item  {100 * value / total:4.1f} %")
    print(f"  {'sum of the stages':42s} {total * 1e6 / n:6.2f} us/item -> "
          f"{n / total:,.0f} items per CPU-second")
    measured = best_cpu(whole, args.repeat)
    print(f"  {'convert_file, measured':42s} {measured * 1e6 / n:6.2f} us/item -> "
          f"{n / measured:,.0f} items per CPU-second")


if __name__ == "__main__":
    main()
