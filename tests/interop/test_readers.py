"""Other engines read a format 2 table's files: one snapshot, and all snapshots together.

The table drifts (an attribute N in one snapshot, S in the next), holds decimals of many
scales, big integers, sets, binary and maps, and gains a column between snapshots. Readers:
plain DuckDB ``read_parquet`` (no ``union_by_name``), ``pyarrow.dataset``, polars and
pandas with pyarrow dtypes. No error, the same counts, exact numbers.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pytest

from lake import layout
from lake.fileio import LocalFileIO
from lake.table_schemas import latest_schema
from lake.writers import SnapshotWriter
from schemas.codec import decode_items
from schemas.dynamo_json import WIDE, canonical_bytes
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Manifest, Source
from schemas.rowtext import number_pattern

TABLE = "interop"
KEYS = KeySchema(KeyAttribute("id", "S"))
T0 = datetime(2026, 12, 1, tzinfo=UTC)
PRICES = ["3.25", "19.99", "20", "0.000001", "-7.5", "123456789012345678901234567890",
          "12345678901234567890123456789012345678", "1E-130", "9.99E+125"]


def item(i: int, snapshot: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": {"S": f"i{i:03d}"},
        "price": {"N": PRICES[i % len(PRICES)]},
        "big": {"N": "9007199254740993" if i % 2 else "123456789012345678901234567890"},
        "x": {"N": str(i)} if snapshot == 0 or i % 3 else {"S": f"x{i}"},
        "tags": {"SS": sorted({f"t{i % 3}", "all"})},
        "scores": {"NS": ["1.5", str(i)]},
        "blobs": {"BS": [base64.b64encode(bytes([i % 256])).decode(), "AAE="]},
        "token": {"B": base64.b64encode(bytes([i % 256, 255])).decode()},
        "doc": {"M": {"n": {"N": str(i)}, "l": {"L": [{"S": "a"}, {"NULL": True}]}}},
        "flag": {"BOOL": i % 2 == 0},
    }
    if snapshot >= 1 and i % 4 == 0:
        out["extra"] = {"S": f"e{i}"}
    return out


@dataclass
class Lake:
    root: Path
    manifests: list[Manifest]
    items: list[list[dict[str, Any]]]

    def paths(self, manifest: Manifest) -> list[str]:
        return [str(self.root / layout.snapshot_part(TABLE, manifest.snapshot_id, p.path))
                for p in manifest.parts]


def write_snapshot(io: LocalFileIO, n: int, items: list[dict[str, Any]]) -> Manifest:
    at = T0 + timedelta(hours=n)
    writer = SnapshotWriter(io, TABLE, layout.new_id(at), KEYS)
    half = len(items) // 2
    for seq, chunk in enumerate((items[:half], items[half:])):
        copies = [canonical_and_copy(i) for i in chunk]
        writer.write_part(layout.part_name(0, seq), writer.encode(copies))
    stamp = at.isoformat().replace("+00:00", "Z")
    return writer.commit(source=Source(TABLE, "scan"),
                         consistency=Consistency("exact", stamp, stamp),
                         table_description={"TableName": TABLE})


def canonical_and_copy(original: dict[str, Any]) -> dict[str, Any]:
    import orjson

    return dict(orjson.loads(orjson.dumps(original)))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("interop")
    io = LocalFileIO(root)
    batches = [[item(i, n) for i in range(30 + 6 * n)] for n in range(3)]
    manifests = [write_snapshot(io, n, batch) for n, batch in enumerate(batches)]
    return Lake(root, manifests, batches)


def exact_sum(values: list[Decimal]) -> Decimal:
    """A sum that never rounds (Python's default decimal context keeps 28 digits)."""
    with localcontext(WIDE):
        return sum(values, Decimal(0))


def held_prices(items: list[dict[str, Any]]) -> list[Decimal]:
    pattern = re.compile(number_pattern(6))
    return [Decimal(i["price"]["N"]) for i in items if pattern.match(i["price"]["N"])]


def test_the_table_gained_a_column_and_snapshots_share_a_schema(lake: Lake) -> None:
    ids = [m.table_schema.schema_id for m in lake.manifests]  # type: ignore[union-attr]
    assert ids == [1, 1, 2]  # snapshot 1 saw `extra` first (kept in _rest), then it got one
    latest = latest_schema(LocalFileIO(lake.root), TABLE)
    assert latest is not None and "extra" in latest.by_name


@pytest.mark.parametrize("n", [0, 1, 2])
def test_one_snapshot_reads_alike_in_every_engine(lake: Lake, n: int) -> None:
    manifest, items = lake.manifests[n], lake.items[n]
    paths = lake.paths(manifest)
    prices = held_prices(items)
    con = duckdb.connect()
    source = f"read_parquet({paths!r})"
    [(count, total, at_325)] = con.sql(f"SELECT count(*), sum(price), count(*) FILTER "
                                       f"(WHERE price = 3.25) FROM {source}").fetchall()
    expected = exact_sum(prices)
    assert (count, total, at_325) == (len(items), expected, prices.count(Decimal("3.25")))
    table = ds.dataset(paths, format="parquet").to_table()
    assert table.num_rows == len(items)
    assert exact_sum(table.column("price").drop_null().to_pylist()) == expected
    frame = pl.read_parquet(paths)
    assert frame.height == len(items) and frame["price"].sum() == expected
    data_dir = Path(paths[0]).parent
    pandas = pd.read_parquet(data_dir, dtype_backend="pyarrow")
    assert len(pandas) == len(items) and pandas["price"].sum() == expected
    assert sorted(pandas["big"].dropna().tolist()) == sorted(
        Decimal(i["big"]["N"]) for i in items)


def test_every_item_is_exact_from_the_files(lake: Lake) -> None:
    for manifest, items in zip(lake.manifests, lake.items, strict=True):
        table = ds.dataset(lake.paths(manifest), format="parquet").to_table()
        got = sorted(canonical_bytes(i) for i in decode_items(table))
        assert got == sorted(canonical_bytes(canonical_and_copy(i)) for i in items)


def test_all_snapshots_read_together(lake: Lake) -> None:
    paths = [p for m in lake.manifests for p in lake.paths(m)]  # oldest first, as listed
    items = [i for batch in lake.items for i in batch]
    expected = exact_sum(held_prices(items))
    con = duckdb.connect()
    [(count, total)] = con.sql(f"SELECT count(*), sum(price) FROM read_parquet({paths!r})"
                               ).fetchall()
    assert (count, total) == (len(items), expected)  # the newest column is left out
    latest = latest_schema(LocalFileIO(lake.root), TABLE)
    assert latest is not None
    table = ds.dataset(paths, format="parquet", schema=latest.arrow_schema()).to_table()
    assert table.num_rows == len(items)
    assert table.column("extra").drop_null().to_pylist() == [
        i["extra"]["S"] for i in lake.items[2] if "extra" in i]
    frame = pl.scan_parquet(paths[::-1], missing_columns="insert").collect()
    assert frame.height == len(items) and frame["price"].sum() == expected
    pandas = table.to_pandas(types_mapper=pd.ArrowDtype)
    assert pandas["price"].sum() == expected
    assert (pandas["x"].isna().sum() ==
            sum(1 for i in items if "N" not in i["x"]))  # drifted values stay in _rest
