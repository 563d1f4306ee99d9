"""Every column kind of lake format 2 (and a table with an N partition key and a B sort key)
reads back exactly from the Iceberg table in pyiceberg and DuckDB, as `ddblake query` reads
it: the Iceberg schema takes its field ids, list element ids included, from the table schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyiceberg.table import StaticTable
from pyiceberg.types import ListType

from lake.fileio import LocalFileIO
from lake.iceberg import publish
from lake.table_schemas import latest_schema
from lake.writers import SnapshotWriter
from queries.iceberg import connect
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Source
from tests.iceberg.compare import cells, ddblake_items, ddblake_query, iceberg_items, to_rows

KEYS = KeySchema(KeyAttribute("n", "N"), KeyAttribute("b", "B"))


def item(n: str, b: str, **attrs: Any) -> dict[str, Any]:
    return {"n": {"N": n}, "b": {"B": b}, **attrs}


ITEMS = [
    item("1", "AAE=", s={"S": "é \u0001 \"q\""}, num={"N": "-12.5"}, bin={"B": "/wA="},
         flag={"BOOL": True}, ss={"SS": ["b", "a"]}, ns={"NS": ["10", "-0.000001"]},
         bs={"BS": ["AQ==", "AA=="]}, l={"L": [{"N": "1"}, {"S": "x"}]}, nul={"NULL": True}),
    item("-7.25", "AA==", flag={"BOOL": False}, ns={"NS": ["1", "1.1234567"]},  # not held
         num={"N": "1E+2"}),  # not canonical: _rest
    item("123456789012345678901234567890123456789", "/w==", s={"S": ""}),  # 39-digit key
]


@pytest.mark.iceberg  # DuckDB's iceberg extension (no 2.x build: .ci/duckdb2 leaves it out)
def test_every_kind_reads_back_exactly(lake_dir: Path, capsys: Any, tmp_path: Path) -> None:
    io = LocalFileIO(str(lake_dir))
    writer = SnapshotWriter(io, "kinds", "20261122T100000Z-0a0b0c0d", KEYS)
    writer.write_part("data/part-00000-00000.parquet",
                      writer.encode([dict(i) for i in ITEMS]))
    writer.commit(source=Source("kinds", "export"),
                  consistency=Consistency("exact", "2026-11-22T10:00:00Z",
                                          "2026-11-22T10:00:00Z"), table_description={})
    schema = latest_schema(io, "kinds")
    assert schema is not None
    items, _ = publish(io)
    table = StaticTable.from_metadata(str(items.metadata_location))
    fields = {f.name: f for f in table.schema().fields}
    assert [f.field_id for f in table.schema().fields[:4]] == [1, 2, 3, 4]
    for column in schema.columns:
        assert fields[column.name].field_id == column.id
        kind = fields[column.name].field_type
        if column.element_id is not None:
            assert isinstance(kind, ListType) and kind.element_id == column.element_id
    expected = ddblake_query(capsys, tmp_path, io.uri, "--table", "kinds")
    names = [c.name for c in schema.columns]
    for rows in (to_rows(table.scan().to_arrow()),
                 to_rows(connect().execute("SELECT * FROM iceberg_scan(?)",
                                           [items.metadata_location]).to_arrow_table())):
        assert iceberg_items(rows, schema) == ddblake_items(expected)
        assert cells(rows, names) == cells(expected, names)
        assert {r["_pk"] for r in rows} == {i["n"]["N"] for i in ITEMS}
