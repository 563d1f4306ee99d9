"""The selection spooled to local files, one per unit of work.

With ``--engine local`` the driver selects once and spools; a unit that selects its own rows
(:mod:`restorer.slices`, ``--engine ray``) fills one such file privately
(:func:`fill_unit`). A unit holds the items whose key hashes to it, as an Arrow IPC stream of
the rows :meth:`restorer.select.Query.batches` yields (the canonical ``_item`` text, the hash
the backup recorded for it ``_item_hash``, the key values ``_k0``/``_k1`` and, when expired
items are skipped, the TTL text ``_ttl``), so the unit can check each item against its hash
(:mod:`restorer.itemcheck`) and the writer can check and send whole batches without parsing
items (:mod:`restorer.rows`). :meth:`Spool.fill` hands every batch to ``inspect`` first (the
restore's up-front item check). Units are the grain of parallelism and of the journal: the
same selection always gives the same units, whatever the row order. Memory stays bounded:
rows stream from DuckDB and each batch is scattered to the unit files at once.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from restorer.select import Query
from schemas.errors import DdbLakeError

UNIT = "_unit"


def unit_count(selected: int, unit_rows: int) -> int:
    return max(1, math.ceil(selected / unit_rows))


def unit_path(root: Path, unit: int) -> Path:
    return root / f"unit-{unit:05d}.arrows"


class Spool:
    def __init__(self, units: int, root: Path | None = None) -> None:
        self.units = units
        self._owned = root is None
        self.root = Path(tempfile.mkdtemp(prefix="ddblake-restore-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, unit: int) -> Path:
        return unit_path(self.root, unit)

    def fill(self, query: Query, ttl_attribute: str | None = None,
             inspect: Callable[[pa.RecordBatch], None] | None = None) -> int:
        """Stream the query into the unit files; return the number of rows. ``inspect`` sees
        every batch before it is spooled."""
        total = 0
        reader = query.batches(self.units, ttl_attribute=ttl_attribute)
        with contextlib.ExitStack() as stack:
            writers: list[pa.ipc.RecordBatchStreamWriter] = []
            for batch in reader:
                if inspect is not None:
                    inspect(batch)
                if not writers:
                    schema = batch.schema.remove(batch.schema.get_field_index(UNIT))
                    writers = [stack.enter_context(pa.ipc.new_stream(str(self.path(u)), schema))
                               for u in range(self.units)]
                total += batch.num_rows
                _scatter(batch, writers)
        for u in range(self.units):  # an empty selection, or units no row hashed to
            if not self.path(u).exists():
                self.path(u).write_bytes(b"")
        return total

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)


def _scatter(batch: pa.RecordBatch, writers: list[pa.ipc.RecordBatchStreamWriter]) -> None:
    units = batch.column(UNIT)
    order = pc.sort_indices(units)
    rows = batch.drop_columns([UNIT]).take(order)
    sorted_units = units.take(order).to_numpy(zero_copy_only=False)
    bounds = [0, *(np.flatnonzero(np.diff(sorted_units)) + 1).tolist(), len(sorted_units)]
    for start, end in itertools.pairwise(bounds):
        writers[int(sorted_units[start])].write_batch(rows.slice(start, end - start))


def fill_unit(query: Query, path: Path, ttl_attribute: str | None = None) -> int:
    """Stream the rows of one unit into ``path``, in the format of :meth:`Spool.fill`, and
    return their number: the rows of the query's bucket (:attr:`Query.bucket`), else every
    row (a unit that reads only its own parts)."""
    unit, units = query.bucket or (0, 1)
    total = 0
    with contextlib.ExitStack() as stack:
        writer: pa.ipc.RecordBatchStreamWriter | None = None
        for batch in query.batches(units, ttl_attribute=ttl_attribute):
            if batch.num_rows and not pc.all(pc.equal(batch.column(UNIT), unit)).as_py():
                raise DdbLakeError("a row of another unit reached this unit",
                                   hint="report this as a bug of ddblake")
            rows = batch.drop_columns([UNIT])
            if writer is None:
                writer = stack.enter_context(pa.ipc.new_stream(str(path), rows.schema))
            writer.write_batch(rows)
            total += batch.num_rows
    if total == 0:
        path.write_bytes(b"")
    return total


def read_unit_batches(path: Path, rows: int = 8_192) -> Iterator[pa.RecordBatch]:
    """The rows of one unit file, in batches of about ``rows`` (small scattered batches
    are combined so the vectorised checks run on large ones)."""
    if path.stat().st_size == 0:
        return
    with pa.ipc.open_stream(str(path)) as reader:
        yield from _batches(reader, rows)


def _batches(reader: Any, rows: int) -> Iterator[pa.RecordBatch]:
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.concat_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.concat_batches(pending)


def read_unit(path: Path) -> Iterator[bytes]:
    """The item texts of one unit file."""
    for batch in read_unit_batches(path):
        yield from batch.column(0).cast(pa.binary()).to_pylist()
