"""How fast is `verify --deep`? Local lake, N sample orders in parts of 50k rows.

Baseline measured in the same run: the same row check done by DuckDB in one SQL query
(`sha256(_item::VARCHAR) <> _item_sha256`, reliability.md §2.3), plus a plain sha256 of the
part files (the floor for the byte check).
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from ddblake.sampledata import orders
from lake import layout
from lake.fileio import LocalFileIO
from lake.verify import verify_snapshot
from lake.writers import SnapshotWriter
from schemas.codec import encode_items
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Source

KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))


def build(io: LocalFileIO, items: int, per_part: int) -> str:
    writer = SnapshotWriter(io, "orders", layout.new_id(), KEYS)
    for seq, start in enumerate(range(0, items, per_part)):
        chunk = list(orders(min(per_part, items - start), start=start))
        writer.write_part(layout.part_name(0, seq), encode_items(chunk, KEYS))
    now = "2026-11-22T00:00:00Z"
    writer.commit(source=Source("orders", "scan"), consistency=Consistency("fuzzy", now, now),
                  table_description={})
    return writer.snapshot_id


def main(items: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        io = LocalFileIO(tmp)
        sid = build(io, items, 50_000)
        files = sorted(Path(tmp).rglob("*.parquet"))
        size = sum(f.stat().st_size for f in files)
        t0 = time.perf_counter()
        for f in files:
            hashlib.sha256(f.read_bytes()).hexdigest()
        t_bytes = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = verify_snapshot(io, "orders", sid)
        t_struct = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = verify_snapshot(io, "orders", sid, deep=True)
        t_deep = time.perf_counter() - t0
        assert result.ok and result.rows == items
        t0 = time.perf_counter()
        bad = duckdb.execute("SELECT count(*) FILTER (WHERE sha256(_item::VARCHAR) <> "
                             f"_item_sha256), count(*) FROM read_parquet('{tmp}/**/*.parquet')"
                             ).fetchone()
        t_duck = time.perf_counter() - t0
        assert bad == (0, items)
    print(f"items={items} parts={len(files)} parquet={size / 1e6:.1f} MB")
    print(f"  sha256 of part files only     {t_bytes:7.2f} s")
    print(f"  ddblake verify (structure)    {t_struct:7.2f} s")
    print(f"  ddblake verify --deep         {t_deep:7.2f} s  ({items / t_deep:,.0f} rows/s)")
    print(f"  DuckDB row-hash query (1 SQL) {t_duck:7.2f} s  ({items / t_duck:,.0f} rows/s)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
