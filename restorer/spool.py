"""The selection spooled to local files, one per unit of work.

A unit holds the items whose key hashes to it, one canonical ``_item`` text per line
(JSON text never holds a raw newline). Units are the grain of parallelism and of the
journal: the same selection always gives the same units, whatever the row order.
Memory stays bounded: rows stream from DuckDB through one small buffer per unit file.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from restorer.select import Query

_BUFFER = 256 * 1024


def unit_count(selected: int, unit_rows: int) -> int:
    return max(1, math.ceil(selected / unit_rows))


class Spool:
    def __init__(self, units: int, root: Path | None = None) -> None:
        self.units = units
        self._owned = root is None
        self.root = Path(tempfile.mkdtemp(prefix="ddblake-restore-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, unit: int) -> Path:
        return self.root / f"unit-{unit:05d}.jsonl"

    def fill(self, query: Query) -> int:
        """Stream the query into the unit files; return the number of rows."""
        total = 0
        with contextlib.ExitStack() as stack:
            files = [stack.enter_context(open(self.path(u), "wb", buffering=_BUFFER))
                     for u in range(self.units)]
            for batch in query.batches(self.units):
                total += batch.num_rows
                _scatter(batch, files)
        return total

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)


def _scatter(batch: pa.RecordBatch, files: list[BinaryIO]) -> None:
    units = batch.column(1)
    texts = batch.column(0)
    order = pc.sort_indices(units)
    units_sorted = units.take(order).to_numpy(zero_copy_only=False)
    texts_sorted = texts.take(order).to_pylist()
    start = 0
    n = len(texts_sorted)
    while start < n:
        unit = int(units_sorted[start])
        end = start
        while end < n and units_sorted[end] == unit:
            end += 1
        chunk = "\n".join(texts_sorted[start:end]) + "\n"
        files[unit].write(chunk.encode("utf-8"))
        start = end


def read_unit(path: Path) -> Iterator[bytes]:
    """The item texts of one unit file."""
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if line:
                yield line
