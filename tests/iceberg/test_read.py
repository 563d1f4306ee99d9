"""pyiceberg, DuckDB's iceberg extension and polars read the published tables: the latest
backup, an earlier one by Iceberg time travel, and the table as of any second through the
change table (the SQL and Python of docs/iceberg.md, run as written), each compared with
`ddblake query` (`--snapshot`, `--as-of`) on the same lake and with the truth."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pyiceberg.table import StaticTable

from lake.fileio import FileIO
from lake.iceberg import Published, publish
from lake.table_schemas import latest_schema
from queries.iceberg import connect
from schemas.table_schema import TableSchema
from tests.iceberg.compare import (
    cells,
    ddblake_items,
    ddblake_query,
    iceberg_items,
    to_rows,
    truth,
    truth_hashes,
)
from tests.iceberg.conftest import BIG, NOT_HELD, T0, S, Scenario
from tests.iceberg.lakegen import iso

DOC = Path(__file__).resolve().parents[2] / "docs" / "iceberg.md"
TYPED = ["price", "qty", "tags"]  # the columns every snapshot has


def doc_block(name: str) -> str:
    match = re.search(rf"<!-- test: {name} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/iceberg.md has no block {name}"
    return match.group(1)


@pytest.fixture
def published(scenario: Scenario, scenario_io: FileIO) -> tuple[Published, Published]:
    items, changes = publish(scenario_io)
    assert items.kind == "items" and changes.kind == "changes"
    return items, changes


@pytest.fixture
def schema(scenario: Scenario, scenario_io: FileIO) -> TableSchema:
    found = latest_schema(scenario_io, "orders")
    assert found is not None and [c.name for c in found.columns] == \
        ["price", "qty", "tags", "m", "note"]
    return found


def check_same(rows: list[dict[str, Any]], expected: list[dict[str, Any]],
               schema: TableSchema) -> None:
    """Iceberg rows hold the items (and typed cells, hashes) `ddblake query` returned."""
    assert iceberg_items(rows, schema) == ddblake_items(expected)
    names = [n for n in [*TYPED, "m", "note"] if n in expected[0]]
    assert cells(rows, names) == cells(expected, names)
    assert {r["_pk"]: r["_item_hash"] for r in rows} == \
        {r["_pk"]: r["_item_hash"] for r in expected}


@pytest.mark.iceberg  # DuckDB's iceberg extension (no 2.x build: .ci/duckdb2 leaves it out)
def test_latest_backup_in_pyiceberg_duckdb_and_polars_equals_ddblake_query(
        scenario: Scenario, published: tuple[Published, Published], schema: TableSchema,
        capsys: Any, tmp_path: Path) -> None:
    items, _ = published
    expected = ddblake_query(capsys, tmp_path, scenario.lake)
    assert ddblake_items(expected) == truth(scenario.history, T0 + 50 * S + 500)
    assert any(r["note"] == "hello" for r in expected)
    table = StaticTable.from_metadata(str(items.metadata_location))
    check_same(to_rows(table.scan().to_arrow()), expected, schema)
    folder = connect().execute("SELECT * FROM iceberg_scan(?)", [items.location])
    check_same(to_rows(folder.to_arrow_table()), expected, schema)  # via version-hint.text
    check_same(to_rows(pl.scan_iceberg(table, reader_override="pyiceberg").collect()),
               expected, schema)


@pytest.mark.iceberg  # DuckDB's iceberg extension (no 2.x build: .ci/duckdb2 leaves it out)
@pytest.mark.parametrize("second, point", [(10, 10 * S), (29, 10 * S), (30, 30 * S),
                                           (50, 30 * S), (51, 50 * S + 500)])
def test_time_travel_returns_the_backup_ddblake_as_of_starts_from(
        scenario: Scenario, published: tuple[Published, Published], schema: TableSchema,
        capsys: Any, tmp_path: Path, second: int, point: int) -> None:
    items, _ = published
    table = StaticTable.from_metadata(str(items.metadata_location))
    snapshot = table.snapshot_as_of_timestamp((T0 + second * S) // 1000)
    assert snapshot is not None and snapshot.summary is not None
    sid = str(snapshot.summary["ddblake.snapshot-id"])
    expected = ddblake_query(capsys, tmp_path, scenario.lake, "--snapshot", sid)
    assert ddblake_items(expected) == truth(scenario.history, T0 + point)
    check_same(to_rows(table.scan(snapshot_id=snapshot.snapshot_id).to_arrow()), expected,
               schema)
    con = connect()
    con.execute("SET TimeZone = 'UTC'")
    got = con.execute("SELECT * FROM iceberg_scan(?, snapshot_from_timestamp = "
                      "make_timestamp(?::BIGINT))",
                      [items.metadata_location, T0 + second * S]).to_arrow_table()
    check_same(to_rows(got), expected, schema)
    frame = pl.scan_iceberg(table, snapshot_id=snapshot.snapshot_id,
                            reader_override="pyiceberg").collect()
    check_same(to_rows(frame), expected, schema)


@pytest.mark.iceberg  # DuckDB's iceberg extension (no 2.x build: .ci/duckdb2 leaves it out)
def test_a_backup_written_before_a_column_existed_reads_it_as_null(
        published: tuple[Published, Published]) -> None:
    items, _ = published
    table = StaticTable.from_metadata(str(items.metadata_location))
    assert [f.name for f in table.schema().fields][-2:] == ["m", "note"]
    first, second, _ = table.metadata.snapshots
    old = {r["_pk"]: r for r in table.scan(snapshot_id=first.snapshot_id).to_arrow()
           .to_pylist()}
    assert all(r["m"] is None and r["note"] is None for r in old.values())
    assert '"m":{"M":' in old["f"]["_rest"]  # schema 1 had no m: the value is in _rest
    mid = {r["_pk"]: r for r in table.scan(snapshot_id=second.snapshot_id).to_arrow()
           .to_pylist()}
    assert mid["c"]["note"] is None and mid["c"]["_rest"] == '{"note":{"S":"mid-scan"}}'
    assert mid["f"]["m"] == '{"M":{"k":{"N":"1"},"l":{"L":[{"NULL":true}]}}}'
    con = connect()
    con.execute("SET TimeZone = 'UTC'")
    duck = con.execute("SELECT _pk, m, note, _rest FROM iceberg_scan(?, snapshot_from_timestamp "
                       "= make_timestamp(?::BIGINT)) ORDER BY _pk",
                       [items.metadata_location, T0 + 10 * S]).fetchall()
    assert duck == [(k, None, None, old[k]["_rest"]) for k in sorted(old)]


class DocSql:
    """One DuckDB connection set up as the documented as-of block says."""

    def __init__(self, items: Published, changes: Published) -> None:
        self.con = connect()
        setup, _, rest = doc_block("duckdb-as-of").rpartition("SET VARIABLE t")
        for statement in filter(str.strip, setup.split(";\n")):
            self.con.execute(statement)  # the documented SET and macro statements, as written
        self.con.execute("SET VARIABLE items_meta = ?", [items.metadata_location])
        self.con.execute("SET VARIABLE changes_meta = ?", [changes.metadata_location])
        self.queries = {"duckdb-as-of": rest.split(";", 1)[1],
                        "duckdb-as-of-changes": doc_block("duckdb-as-of-changes")}

    def as_of(self, us: int, block: str) -> list[dict[str, Any]]:
        self.con.execute("SET VARIABLE t = make_timestamptz(?::BIGINT)", [us])
        return to_rows(self.con.execute(self.queries[block]).to_arrow_table())


SECONDS = [10, 20, 21, 22, 24, 27, 29, 30, 40, 41, 50, 59, 60, 61, 70]


@pytest.mark.iceberg  # DuckDB's iceberg extension (no 2.x build: .ci/duckdb2 leaves it out)
def test_as_of_in_duckdb_equals_ddblake_query_as_of(
        scenario: Scenario, published: tuple[Published, Published], schema: TableSchema,
        capsys: Any, tmp_path: Path) -> None:
    sql = DocSql(*published)
    for us in [T0 + s * S for s in SECONDS] + [T0 + 50 * S + 1000]:
        expected = ddblake_query(capsys, tmp_path, scenario.lake, "--as-of", iso(us))
        got = sql.as_of(us, "duckdb-as-of")
        assert ddblake_items(expected) == truth(scenario.history, us), us
        check_same(got, expected, schema)


@pytest.mark.iceberg  # DuckDB's iceberg extension (no 2.x build: .ci/duckdb2 leaves it out)
def test_as_of_before_the_first_backup_from_the_change_table_alone(
        scenario: Scenario, published: tuple[Published, Published], schema: TableSchema) -> None:
    sql = DocSql(*published)
    for second in (0, 1, 2, 5, 9, 30, 70):
        us = T0 + second * S
        got = sql.as_of(us, "duckdb-as-of-changes")
        assert iceberg_items(got, schema) == truth(scenario.history, us)
        assert {r["_pk"]: r["_item_hash"] for r in got} == truth_hashes(scenario.history, us)


@pytest.mark.parametrize("us", [T0 + 5 * S, T0 + 10 * S, T0 + 27 * S, T0 + 30 * S,
                                T0 + 50 * S + 1000, T0 + 61 * S])
def test_as_of_in_pyiceberg_and_polars_equals_ddblake_query_as_of(
        scenario: Scenario, published: tuple[Published, Published], schema: TableSchema,
        capsys: Any, tmp_path: Path, us: int) -> None:
    items, changes = published
    scope: dict[str, Any] = {"items_meta": items.metadata_location,
                             "changes_meta": changes.metadata_location, "t_ms": us // 1000}
    exec(doc_block("pyiceberg-as-of"), scope)
    got = to_rows(scope["state"])
    assert iceberg_items(got, schema) == truth(scenario.history, us)
    if us >= T0 + 10 * S:  # before the first backup ddblake has no base either
        check_same(got, ddblake_query(capsys, tmp_path, scenario.lake, "--as-of", iso(us)),
                   schema)


@pytest.mark.iceberg  # DuckDB's iceberg extension (no 2.x build: .ci/duckdb2 leaves it out)
def test_numbers_and_rest_stay_exact(scenario: Scenario, published: tuple[Published, Published],
                                     capsys: Any, tmp_path: Path) -> None:
    items, _ = published
    table = StaticTable.from_metadata(str(items.metadata_location))
    got = {r["_pk"]: r for r in table.scan().to_arrow().to_pylist()}
    assert got["d"]["price"] == Decimal(BIG)
    assert got["f"]["price"] is None and got["f"]["_rest"] == \
        f'{{"_meta":{{"S":"no column"}},"price":{{"N":"{NOT_HELD}"}}}}'
    first = table.metadata.snapshots[0].snapshot_id
    old = {r["_pk"]: r for r in table.scan(snapshot_id=first).to_arrow().to_pylist()}
    assert old["b"]["qty"] == Decimal(9007199254740993)
    sql = DocSql(*published)
    later = {r["_pk"]: r for r in sql.as_of(T0 + 61 * S, "duckdb-as-of")}
    assert later["b"]["price"] == Decimal("-" + BIG)  # from the change log's image
    assert later["e"]["price"] is None and NOT_HELD in later["e"]["_new"]
    expected = {r["_pk"]: r for r in ddblake_query(capsys, tmp_path, scenario.lake, "--as-of",
                                                   iso(T0 + 61 * S))}
    assert expected["b"]["price"] == later["b"]["price"] and expected["e"]["price"] is None
