"""An s3:// lake (moto server): publish with `ddblake iceberg`, read with pyiceberg and DuckDB
over S3, register in moto's Glue; an archived snapshot's rows fail to read in S3."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

import boto3
import duckdb
import pytest
from pyiceberg.table import StaticTable

from lake import layout
from lake.aws import make_client
from lake.fileio import FileIO, load_file_io
from lake.iceberg.storage import iceberg_properties
from queries.iceberg import connect
from tests.helpers import REGION, run_cli
from tests.iceberg.conftest import T0, S, Scenario, build

BUCKET = "ice-lake"


@pytest.fixture
def s3_lake(server_env: dict[str, str]) -> tuple[FileIO, Scenario]:
    s3 = boto3.client("s3", region_name=REGION)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=BUCKET)
    prefix = f"lake-{uuid.uuid4().hex[:8]}"
    io = load_file_io(f"s3://{BUCKET}/{prefix}")
    return io, build(io)


def _published(capsys: Any, uri: str, *extra: str) -> list[dict[str, Any]]:
    code, out, err = run_cli(capsys, "iceberg", "--lake", uri, "--format", "json", *extra)
    assert code == 0, err
    rows = json.loads(out)
    assert {"table", "metadata_location"} <= set(rows[0])
    return list(rows)


@pytest.mark.iceberg  # DuckDB's iceberg extension (no 2.x build: .ci/duckdb2 leaves it out)
def test_s3_lake_publishes_and_reads_in_pyiceberg_and_duckdb(
        capsys: Any, s3_lake: tuple[FileIO, Scenario]) -> None:
    io, scenario = s3_lake
    items, changes = _published(capsys, io.uri)
    assert items["metadata_location"].startswith(f"{io.uri}/orders/iceberg/items/metadata/v1")
    expected = sorted(scenario.history.state_at(T0 + 50 * S + 500))
    table = StaticTable.from_metadata(items["metadata_location"],
                                      properties=iceberg_properties(io))
    assert sorted(r["_pk"] for r in table.scan().to_arrow().to_pylist()) == expected
    con = connect(io)
    got = con.execute("SELECT _pk FROM iceberg_scan(?)", [items["location"]]).fetchall()
    assert sorted(r[0] for r in got) == expected
    count = con.execute("SELECT count(*) FROM iceberg_scan(?)",
                        [changes["metadata_location"]]).fetchall()
    assert count == [(len(scenario.history.events),)]
    again = _published(capsys, io.uri)
    assert [r["action"] for r in again] == ["unchanged", "unchanged"]


def test_register_glue_creates_then_updates_the_tables(
        capsys: Any, s3_lake: tuple[FileIO, Scenario]) -> None:
    io, scenario = s3_lake
    items, _ = _published(capsys, io.uri, "--register-glue", "lake_db")
    glue = make_client("glue")
    got = glue.get_table(DatabaseName="lake_db", Name="orders")["Table"]
    assert got["Parameters"]["table_type"] == "ICEBERG"
    assert got["Parameters"]["metadata_location"] == items["metadata_location"]
    columns = {c["Name"] for c in got["StorageDescriptor"]["Columns"]}
    assert columns >= {"_pk", "_rest", "price", "note"}
    changes = glue.get_table(DatabaseName="lake_db", Name="orders_changes")["Table"]
    assert "_event_us" in {c["Name"] for c in changes["StorageDescriptor"]["Columns"]}
    io.delete(layout.snapshot_manifest("orders", scenario.snapshots[0].snapshot_id))
    items2, _ = _published(capsys, io.uri, "--register-glue", "lake_db")
    moved = glue.get_table(DatabaseName="lake_db", Name="orders")["Table"]["Parameters"]
    assert moved["metadata_location"] == items2["metadata_location"] != items["metadata_location"]
    assert moved["previous_metadata_location"] == items["metadata_location"]


def test_register_glue_leaves_another_table_of_the_same_name_alone(
        capsys: Any, s3_lake: tuple[FileIO, Scenario]) -> None:
    io, _ = s3_lake
    glue = make_client("glue")
    glue.create_database(DatabaseInput={"Name": "other_db"})
    glue.create_table(DatabaseName="other_db", TableInput={
        "Name": "orders", "Parameters": {"metadata_location": "s3://elsewhere/x.json"}})
    code, _, err = run_cli(capsys, "iceberg", "--lake", io.uri, "--register-glue", "other_db")
    assert code != 0 and "is not this lake's" in err and "another database" in err
    kept = glue.get_table(DatabaseName="other_db", Name="orders")["Table"]["Parameters"]
    assert kept["metadata_location"] == "s3://elsewhere/x.json"


@pytest.mark.iceberg  # DuckDB's iceberg extension (no 2.x build: .ci/duckdb2 leaves it out)
def test_an_archived_snapshot_fails_to_read_and_the_latest_still_reads(
        capsys: Any, s3_lake: tuple[FileIO, Scenario]) -> None:
    io, scenario = s3_lake
    items, _ = _published(capsys, io.uri)
    old = scenario.snapshots[0]
    s3 = boto3.client("s3", region_name=REGION)
    for part in old.parts:  # what `ddblake archive --storage-class GLACIER` does to a part
        key = io.location.prefix + "/" + layout.snapshot_part("orders", old.snapshot_id,  # type: ignore[attr-defined]
                                                              part.path)
        s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": key},
                       StorageClass="GLACIER", MetadataDirective="COPY")
    con = connect(io)
    con.execute("SET TimeZone = 'UTC'")
    with pytest.raises(duckdb.Error) as e:
        con.execute("SELECT * FROM iceberg_scan(?, snapshot_from_timestamp = "
                    "make_timestamp(?::BIGINT))", [items["metadata_location"], T0 + 15 * S])
    print(f"DuckDB on an archived part: {e.value}")
    assert "403" in str(e.value) or "InvalidObjectState" in str(e.value)
    latest = con.execute("SELECT count(*) FROM iceberg_scan(?)",
                         [items["metadata_location"]]).fetchall()
    assert latest == [(len(scenario.history.state_at(T0 + 50 * S + 500)),)]


def test_the_command_lists_tables_as_a_table_and_says_when_nothing_is_written(
        capsys: Any, lake_dir: Any) -> None:
    from lake.fileio import LocalFileIO

    build(LocalFileIO(str(lake_dir)))
    code, out, err = run_cli(capsys, "iceberg", "--lake", str(lake_dir), "--dry-run")
    assert code == 0 and "orders" in out and "created" in out and "nothing was written" in err
    code, out, _ = run_cli(capsys, "iceberg", "--lake", str(lake_dir), "--table", "orders",
                           "--format", "csv")
    assert code == 0 and out.count("v1.metadata.json") == 2
    code, out, _ = run_cli(capsys, "iceberg", "--lake", str(lake_dir), "--rebuild",
                           "--format", "json")
    assert [r["action"] for r in json.loads(out)] == ["rebuilt", "rebuilt"]
