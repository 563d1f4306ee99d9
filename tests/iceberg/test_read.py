"""pyiceberg, DuckDB's iceberg extension and polars read the published tables: the latest
backup, an earlier one by Iceberg time travel, and the table as of any second through the
change table (the SQL and Python of docs/iceberg.md, run as written), against the truth."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pyiceberg.table import StaticTable

from lake.iceberg import Published, publish
from queries.iceberg import connect
from tests.iceberg.conftest import T0, S, Scenario
from tests.iceberg.lakegen import History

DOC = Path(__file__).resolve().parents[2] / "docs" / "iceberg.md"
COLUMNS = ("id", "price", "qty", "tags", "note")


def doc_block(name: str) -> str:
    match = re.search(rf"<!-- test: {name} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"docs/iceberg.md has no block {name}"
    return match.group(1)


def truth(history: History, us: int) -> list[tuple[Any, ...]]:
    return sorted(tuple(row.get(c) for c in COLUMNS) for row in history.state_at(us).values())


def rows(table: Any) -> list[tuple[Any, ...]]:
    data = table.to_pylist() if hasattr(table, "to_pylist") else table.to_dicts()
    return sorted(tuple(r.get(c) for c in COLUMNS) for r in data)


@pytest.fixture
def published(scenario: Scenario, scenario_io: Any) -> tuple[Published, Published]:
    items, changes = publish(scenario_io)
    assert items.kind == "items" and changes.kind == "changes"
    return items, changes


def test_latest_backup_reads_the_same_in_pyiceberg_duckdb_and_polars(
        scenario: Scenario, published: tuple[Published, Published]) -> None:
    items, _ = published
    expected = truth(scenario.history, T0 + 50 * S + 500)
    assert expected and any(r[4] == "hello" for r in expected)
    table = StaticTable.from_metadata(str(items.metadata_location))
    assert rows(table.scan().to_arrow()) == expected
    folder = connect().execute("SELECT * FROM iceberg_scan(?)", [items.location])
    assert rows(folder.to_arrow_table()) == expected  # through version-hint.text
    assert rows(pl.scan_iceberg(table, reader_override="pyiceberg").collect()) == expected
    assert rows(pl.scan_iceberg(table, reader_override="native").collect()) == expected


@pytest.mark.parametrize("second, point", [(10, 10 * S), (29, 10 * S), (30, 30 * S),
                                           (50, 30 * S), (51, 50 * S + 500)])
def test_time_travel_returns_the_newest_backup_at_or_before(
        scenario: Scenario, published: tuple[Published, Published], second: int,
        point: int) -> None:
    items, _ = published
    expected = truth(scenario.history, T0 + point)
    table = StaticTable.from_metadata(str(items.metadata_location))
    snapshot = table.snapshot_as_of_timestamp((T0 + second * S) // 1000)
    assert snapshot is not None
    assert rows(table.scan(snapshot_id=snapshot.snapshot_id).to_arrow()) == expected
    con = connect()
    con.execute("SET TimeZone = 'UTC'")
    got = con.execute("SELECT * FROM iceberg_scan(?, snapshot_from_timestamp = "
                      "make_timestamp(?::BIGINT))",
                      [items.metadata_location, T0 + second * S]).to_arrow_table()
    assert rows(got) == expected
    frame = pl.scan_iceberg(table, snapshot_id=snapshot.snapshot_id,
                            reader_override="pyiceberg").collect()
    assert rows(frame) == expected


def test_a_part_written_before_a_column_existed_reads_it_as_null(
        scenario: Scenario, published: tuple[Published, Published]) -> None:
    _, changes = published
    table = StaticTable.from_metadata(str(changes.metadata_location))
    data = table.scan().to_arrow()  # batch 1's part has no ``note``; batches 2 and 3 do
    assert data.num_rows == len(scenario.history.events)
    by_time = {r["_event_us"]: r["note"] for r in data.to_pylist()}
    assert by_time[T0 + 27 * S] == "mid-scan"
    assert [by_time[e.us] for e in scenario.history.events if e.us < T0 + 15 * S] == \
        [None, None, None]


class DocSql:
    """One DuckDB connection set up as the documented as-of block says."""

    def __init__(self, items: Published, changes: Published) -> None:
        self.con = connect()
        setup, _, rest = doc_block("duckdb-as-of").rpartition("SET VARIABLE t")
        for statement in filter(str.strip, setup.split(";")):
            self.con.execute(statement)  # the documented SET statements, as written
        self.con.execute("SET VARIABLE items_meta = ?", [items.metadata_location])
        self.con.execute("SET VARIABLE changes_meta = ?", [changes.metadata_location])
        self.queries = {"duckdb-as-of": rest.split(";", 1)[1],
                        "duckdb-as-of-changes": doc_block("duckdb-as-of-changes")}

    def as_of(self, us: int, block: str) -> Any:
        self.con.execute("SET VARIABLE t = make_timestamptz(?::BIGINT)", [us])
        return self.con.execute(self.queries[block]).to_arrow_table()


SECONDS = [10, 15, 20, 21, 22, 24, 27, 29, 30, 31, 40, 41, 45, 50, 59, 60, 61, 70]


def test_as_of_every_second_in_duckdb_equals_the_truth(
        scenario: Scenario, published: tuple[Published, Published]) -> None:
    sql = DocSql(*published)
    for us in [T0 + s * S for s in SECONDS] + [T0 + 50 * S + 1000]:
        assert rows(sql.as_of(us, "duckdb-as-of")) == truth(scenario.history, us), us


def test_as_of_before_the_first_backup_from_the_change_table_alone(
        scenario: Scenario, published: tuple[Published, Published]) -> None:
    sql = DocSql(*published)
    for second in (0, 1, 2, 5, 9, 30, 70):
        us = T0 + second * S
        assert rows(sql.as_of(us, "duckdb-as-of-changes")) == truth(scenario.history, us)


@pytest.mark.parametrize("us", [T0 + 5 * S, T0 + 10 * S, T0 + 27 * S, T0 + 30 * S,
                                T0 + 50 * S + 1000, T0 + 61 * S])
def test_as_of_in_pyiceberg_and_polars_equals_the_truth(
        scenario: Scenario, published: tuple[Published, Published], us: int) -> None:
    items, changes = published
    scope: dict[str, Any] = {"items_meta": items.metadata_location,
                             "changes_meta": changes.metadata_location, "t_ms": us // 1000}
    exec(doc_block("pyiceberg-as-of"), scope)
    assert rows(scope["state"]) == truth(scenario.history, us)


def test_numbers_stay_exact(scenario: Scenario,
                            published: tuple[Published, Published]) -> None:
    items, _ = published
    table = StaticTable.from_metadata(str(items.metadata_location))
    got = {r["id"]: r for r in table.scan().to_arrow().to_pylist()}
    assert got["d"]["price"] == Decimal("99999999999999999999999999999999999.99")
    first = table.metadata.snapshots[0].snapshot_id
    old = {r["id"]: r for r in table.scan(snapshot_id=first).to_arrow().to_pylist()}
    assert old["b"]["qty"] == 9007199254740993
