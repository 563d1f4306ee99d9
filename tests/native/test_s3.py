"""Exports read from S3 (moto): in-process, and from worker processes via the moto server."""

from __future__ import annotations

import copy
from typing import Any

import boto3
import pytest

from exporter.import_export import import_export
from exporter.native import ConvertConfig
from lake import catalog
from lake.fileio import load_file_io
from schemas.errors import CorruptDataError
from tests.helpers import REGION
from tests.native.conftest import T0, every_type_items
from tests.native.export_builder import ExportBuilder, S3Bucket, b64md5

from .test_convert_full import KEYS

PREFIX = "exports/daily"


def _export(s3: Any, bucket: str, **kw: Any) -> Any:
    s3.create_bucket(Bucket=bucket)
    builder = ExportBuilder(S3Bucket(s3, bucket), bucket_name=bucket)
    return builder, builder.full(copy.deepcopy(every_type_items()), export_time=T0,
                                 prefix=PREFIX, **kw)


def test_s3_export_into_an_s3_lake(s3: Any) -> None:
    builder, built = _export(s3, "exports-bucket")
    builder.write(built)
    s3.create_bucket(Bucket="lake-bucket")
    lake = load_file_io("s3://lake-bucket/lake", s3_client=s3)
    result = import_export(f"s3://exports-bucket/{built.export_dir}", lake, keys=KEYS,
                           s3_client=s3, config=ConvertConfig(workers=1))
    assert result.items == 3
    manifest = catalog.find_snapshot(lake, "latest", "Orders")
    assert manifest.source.export_arn == built.export_arn
    assert manifest.extra["native_export"]["uri"] == f"s3://exports-bucket/{built.export_dir}"


def test_s3_damage_is_named_with_its_s3_uri(s3: Any, lake_dir: Any) -> None:
    builder, built = _export(s3, "exports-bucket")
    built.files[0]["md5Checksum"] = b64md5(b"nope")
    builder.write(built)
    with pytest.raises(CorruptDataError, match="s3://exports-bucket/exports/daily/AWSDynamoDB/"):
        import_export(f"s3://exports-bucket/{built.export_dir}", load_file_io(str(lake_dir)),
                      keys=KEYS, s3_client=s3, config=ConvertConfig(workers=1))


def test_worker_processes_read_s3_through_the_configured_endpoint(server_env: dict[str, str],
                                                                  lake_dir: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    from ddblake.sampledata import orders

    s3.create_bucket(Bucket="proc-exports")
    builder = ExportBuilder(S3Bucket(s3, "proc-exports"), bucket_name="proc-exports")
    built = builder.write(builder.full(orders(400), export_time=T0, items_per_file=100,
                                       empty=1, prefix=PREFIX))
    result = import_export(f"s3://proc-exports/{built.export_dir}", load_file_io(str(lake_dir)),
                           keys=KEYS, s3_client=s3, config=ConvertConfig(workers=2))
    assert result.items == 400
    assert len(catalog.find_snapshot(load_file_io(str(lake_dir)), "latest").parts) == 4
