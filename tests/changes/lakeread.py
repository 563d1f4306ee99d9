"""Reading what the lake committed (manifests first, then their parts), for assertions."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from lake import layout
from lake.catalog import list_change_batches
from lake.fileio import LocalFileIO


def committed_rows(io: LocalFileIO, table: str) -> list[dict[str, Any]]:
    """Every change row of every committed batch (never a listing of the data folder), in
    (event time, sequence number) order."""
    rows: list[dict[str, Any]] = []
    for batch in list_change_batches(io, table):
        for part in batch.parts:
            path = io.full_uri(layout.table_key(table, part.path))
            rows += pq.read_table(path).to_pylist()
    return sorted(rows, key=lambda r: (r["_event_us"], r["_seq"]))
