"""Format 2 parts as other engines read them: one type per column across parts, exact numbers.

The stories of issue 14: prices of different scales in different parts, and one attribute
that is an integer in one part, a decimal in another and a string in a third.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from schemas.rowcodec import decode_texts, part_schema
from tests.schemas.format2help import canonical, schema_for, write_part

PRICES = [("3.25", 7), ("19.99", 3), ("20", 4)]


def price_parts(tmp_path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    batches = [[{"pk": {"S": f"{price}-{i}"}, "price": {"N": price}} for i in range(count)]
               for price, count in PRICES]
    schema = schema_for(batches[2])  # the table's schema came from a part of integers only
    paths = []
    for n, batch in enumerate(batches):
        path = tmp_path / f"part-{n}.parquet"
        write_part(path, batch, schema)
        paths.append(str(path))
    return paths, [i for b in batches for i in b]


def test_price_equals_compares_exactly_in_duckdb_without_union_by_name(tmp_path: Path) -> None:
    paths, _ = price_parts(tmp_path)
    con = duckdb.connect()
    source = f"read_parquet({paths!r})"
    assert con.sql(f"SELECT count(*) FROM {source} WHERE price = 3.25").fetchall() == [(7,)]
    assert con.sql(f"SELECT count(*) FROM {source} WHERE price >= 20").fetchall() == [(4,)]
    assert con.sql(f"SELECT count(*) FROM {source} WHERE price = 19.99").fetchall() == [(3,)]
    [(total,)] = con.sql(f"SELECT sum(price) FROM {source}").fetchall()
    assert total == Decimal("3.25") * 7 + Decimal("19.99") * 3 + 20 * 4
    kinds = con.sql(f"SELECT DISTINCT typeof(price) FROM {source}").fetchall()
    assert kinds == [("DECIMAL(38,6)",)]


def test_price_parts_read_as_one_dataset_by_pyarrow_and_pandas(tmp_path: Path) -> None:
    paths, items = price_parts(tmp_path)
    table = ds.dataset(paths, format="parquet").to_table()
    assert table.num_rows == len(items)
    frame = table.to_pandas(types_mapper=pd.ArrowDtype)
    assert (frame["price"] == Decimal("3.25")).sum() == 7
    assert frame["price"].sum() == Decimal("3.25") * 7 + Decimal("19.99") * 3 + 20 * 4


@pytest.fixture
def drift_parts(tmp_path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    values = [[{"N": "5"}, {"N": "123456789012345678901234567890"}],
              [{"N": "2.5"}, {"N": "1E-10"}],
              [{"S": "five"}, {"N": "-0"}]]
    batches = [[{"pk": {"S": f"p{n}-{i}"}, "x": v} for i, v in enumerate(vs)]
               for n, vs in enumerate(values)]
    schema = schema_for(batches[0])
    paths = []
    for n, batch in enumerate(batches):
        path = tmp_path / f"part-{n}.parquet"
        write_part(path, batch, schema)
        paths.append(str(path))
    return paths, [i for b in batches for i in b]


def test_drifting_types_keep_one_column_type_and_every_item_exact(
        drift_parts: tuple[list[str], list[dict[str, Any]]]) -> None:
    paths, items = drift_parts
    con = duckdb.connect()
    rows = con.sql(f"SELECT _pk, x, _rest FROM read_parquet({paths!r}) ORDER BY _pk").fetchall()
    assert rows == [
        ("p0-0", Decimal(5), None),
        ("p0-1", Decimal("123456789012345678901234567890"), None),  # 30 digits fit scale 6
        ("p1-0", Decimal("2.5"), None),
        ("p1-1", None, '{"x":{"N":"1E-10"}}'),  # not held: never read as 0
        ("p2-0", None, '{"x":{"S":"five"}}'),
        ("p2-1", None, '{"x":{"N":"-0"}}'),
    ]
    texts = []
    for path in paths:
        table = pq.read_table(path)
        texts += decode_texts(table, part_schema(table.schema.metadata))
    assert sorted(texts) == canonical(items)
