"""A table restored from a natively exported snapshot equals the source table."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import boto3

from exporter.import_export import import_export
from exporter.native import ConvertConfig
from lake.fileio import load_file_io
from restorer import RestoreConfig, restore
from schemas.dynamo_json import from_client, to_client, value_key
from tests.helpers import REGION, create_table, put_items, scan_all
from tests.native.conftest import T0, every_type_items
from tests.native.export_builder import ExportBuilder, S3Bucket


def _values(ddb: Any, table: str) -> set[Any]:
    return {value_key(from_client(i)) for i in scan_all(ddb, table)}


def test_restore_of_a_native_snapshot_equals_the_source(aws: None, lake_dir: Path) -> None:
    session = boto3.Session(region_name=REGION)
    ddb, s3 = session.client("dynamodb"), session.client("s3")
    create_table(ddb, "Orders", sk=("sk", "S"))
    from ddblake.sampledata import orders

    put_items(ddb, "Orders", [to_client(copy.deepcopy(i))
                              for i in [*every_type_items(), *orders(40)]])
    s3.create_bucket(Bucket="exports")
    builder = ExportBuilder(S3Bucket(s3, "exports"), bucket_name="exports",
                            account="123456789012", region=REGION)
    items = [from_client(i) for i in scan_all(ddb, "Orders")]  # what DynamoDB would export
    built = builder.write(builder.full(items, export_time=T0, items_per_file=15, empty=2))
    result = import_export(f"s3://exports/{built.export_dir}", load_file_io(str(lake_dir)),
                           client_for=lambda region: session.client("dynamodb",
                                                                    region_name=region),
                           s3_client=s3, config=ConvertConfig(workers=1))
    assert result.items == 43 and result.description == f"DescribeTable {builder.table_arn}"
    assert result.warnings == ()
    restored = restore(RestoreConfig(lake=str(lake_dir), target="Orders-restored", threads=2),
                       session=session)
    assert restored.ok and restored.written == 43
    assert _values(ddb, "Orders-restored") == _values(ddb, "Orders")
