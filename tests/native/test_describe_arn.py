"""The table description comes from the export's table ARN (its region and account), never
from a same-named table in the default region (moto in-process, two regions)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from exporter.import_export import import_export
from exporter.native import ConvertConfig
from lake import catalog
from lake.fileio import load_file_io
from tests.faults import aws_error
from tests.helpers import REGION, create_table, run_cli
from tests.native.conftest import T0
from tests.native.export_builder import ExportBuilder, S3Bucket
from tests.native.real_shape import TABLE, RealShape, real_shaped

ACCOUNT = "123456789012"  # moto's
NORTH = "eu-north-1"
ARN = f"arn:aws:dynamodb:{NORTH}:{ACCOUNT}:table/{TABLE}"
FLAGS = ["--workers", "1", "-q", "--format", "json"]
KEY_FLAGS = ["--partition-key", "pk:S", "--sort-key", "sk:S"]


def _gsi(name: str, attribute: str, **extra: Any) -> dict[str, Any]:
    return {"IndexName": name, "Projection": {"ProjectionType": "ALL"},
            "KeySchema": [{"AttributeName": attribute, "KeyType": "HASH"}], **extra}


@pytest.fixture
def regions(aws: None) -> dict[str, Any]:
    """`test` in the default region (provisioned, GSI byOwner) and in eu-north-1 (on-demand,
    GSI byStatus): the export is of the eu-north-1 one."""
    east = boto3.client("dynamodb", region_name=REGION)
    north = boto3.client("dynamodb", region_name=NORTH)
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7}
    east.create_table(
        TableName=TABLE, BillingMode="PROVISIONED", ProvisionedThroughput=throughput,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"}
                              for n in ("pk", "sk", "owner")],
        GlobalSecondaryIndexes=[_gsi("byOwner", "owner", ProvisionedThroughput=throughput)])
    create_table(north, TABLE, sk=("sk", "S"),
                 AttributeDefinitions=[{"AttributeName": "status", "AttributeType": "S"}],
                 GlobalSecondaryIndexes=[_gsi("byStatus", "status")])
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="exports")
    return {"east": east, "north": north, "s3": s3}


def _shape(s3: Any, account: str = ACCOUNT) -> RealShape:
    return real_shaped(ExportBuilder(S3Bucket(s3, "exports"), bucket_name="exports",
                                     account=account))


def _import(capsys: pytest.CaptureFixture[str], built: Any, lake: Path,
            *extra: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli(capsys, "import-export", f"s3://exports/{built.export_dir}",
                             "--lake", str(lake), *FLAGS, *extra)
    return code, (json.loads(out) if out else {}), err


def _indexes(description: dict[str, Any]) -> list[str]:
    return [i["IndexName"] for i in description.get("GlobalSecondaryIndexes", [])]


def test_the_exported_tables_own_region_is_described(regions: dict[str, Any], lake_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    shape = _shape(regions["s3"])
    code, summary, err = _import(capsys, shape.full, lake_dir)
    assert code == 0, err
    assert summary["description"] == f"DescribeTable {ARN}" and summary["warnings"] == []
    described = catalog.find_snapshot(load_file_io(str(lake_dir)), "latest",
                                      TABLE).table_description
    assert described["TableArn"] == ARN and described["BillingMode"] == "PAY_PER_REQUEST"
    assert _indexes(described) == ["byStatus"] and "ProvisionedThroughput" not in described
    code, _, err = run_cli(capsys, "restore", TABLE, "--lake", str(lake_dir), "--to",
                           "test-copy", "--region", NORTH, "-q")
    assert code == 0, err
    copy = regions["north"].describe_table(TableName="test-copy")["Table"]
    assert [i["IndexName"] for i in copy["GlobalSecondaryIndexes"]] == ["byStatus"]
    assert copy["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "test-copy" not in regions["east"].list_tables()["TableNames"]


def test_a_table_gone_from_its_region_is_said_and_never_replaced(
        regions: dict[str, Any], lake_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shape = _shape(regions["s3"])
    regions["north"].delete_table(TableName=TABLE)
    code, _, err = _import(capsys, shape.full, lake_dir)
    assert code == 2 and "the key schema of test is unknown" in err
    assert f"DescribeTable failed (region {NORTH}, account {ACCOUNT}): table {ARN} was not " \
           "found" in err
    assert "hint: pass --partition-key NAME:TYPE" in err
    code, summary, err = _import(capsys, shape.full, lake_dir, *KEY_FLAGS)
    assert code == 0, err
    assert summary["description"] == "key flags"
    assert f"warning: table {ARN} was not described: DescribeTable failed" in err
    described = catalog.find_snapshot(load_file_io(str(lake_dir)), "latest",
                                      TABLE).table_description
    assert _indexes(described) == [] and described["TableArn"] == ARN
    assert "byOwner" not in json.dumps(described)


def test_another_account_is_not_the_callers_same_named_table(
        regions: dict[str, Any], lake_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shape = _shape(regions["s3"], account="111122223333")
    code, summary, err = _import(capsys, shape.full, lake_dir, *KEY_FLAGS)
    assert code == 0, err
    assert summary["description"] == "key flags"
    assert "DescribeTable failed (region eu-north-1, account 111122223333)" in err
    described = catalog.find_snapshot(load_file_io(str(lake_dir)), "latest",
                                      TABLE).table_description
    assert _indexes(described) == []


def test_access_denied_falls_back_to_the_lakes_description_of_that_table(
        regions: dict[str, Any], lake_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import timedelta

    from ddblake.commands import native

    shape = _shape(regions["s3"])
    code, first, err = _import(capsys, shape.full, lake_dir)
    assert code == 0, err
    builder = ExportBuilder(S3Bucket(regions["s3"], "exports"), bucket_name="exports",
                            account=ACCOUNT, table=TABLE, region=NORTH)
    later = builder.write(builder.full(shape.history.after2,
                                       export_time=T0 + timedelta(hours=1)))
    real = native._client_for

    def denied(profile: str | None) -> Callable[[str], Any]:
        def make(region: str) -> Any:
            client = real(profile)(region)
            client.meta.events.register(  # cross-account without a resource policy
                "before-send.dynamodb.DescribeTable",
                lambda request, **_: aws_error(request, 400, "AccessDeniedException"))
            return client
        return make

    monkeypatch.setattr(native, "_client_for", denied)
    code, summary, err = _import(capsys, later, lake_dir)
    assert code == 0, err
    assert summary["description"] == f"lake snapshot {first['snapshot_id']}"
    assert "was not described: DescribeTable failed (region eu-north-1, account " \
           f"{ACCOUNT}): access denied" in err
    manifest = catalog.find_snapshot(load_file_io(str(lake_dir)), "latest", TABLE)
    assert manifest.snapshot_id == summary["snapshot_id"]
    assert _indexes(manifest.table_description) == ["byStatus"]


def test_a_recreated_table_is_not_the_exported_one(regions: dict[str, Any], lake_dir: Path,
                                                   ) -> None:
    """DescribeTable answers with another tableId (moto gives none: a hook adds it)."""
    shape = _shape(regions["s3"])

    def client_for(region: str) -> Any:
        client = boto3.client("dynamodb", region_name=region)

        def stamp(parsed: dict[str, Any], **_: Any) -> None:
            parsed["Table"]["TableId"] = "99999999-0000-0000-0000-000000000000"

        client.meta.events.register("after-call.dynamodb.DescribeTable", stamp)
        return client

    from tests.native.test_convert_full import KEYS

    result = import_export(f"s3://exports/{shape.full.export_dir}", load_file_io(str(lake_dir)),
                           keys=KEYS, client_for=client_for, s3_client=regions["s3"],
                           config=ConvertConfig(workers=1))
    assert result.description == "key flags"
    assert any("the table was re-created since the export (its tableId is now 99999999-" in w
               for w in result.warnings)


def test_a_hostile_table_arn_is_refused_before_any_call(
        regions: dict[str, Any], lake_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shape = _shape(regions["s3"])
    key = f"{shape.full.export_dir}manifest-summary.json"
    summary = json.loads(regions["s3"].get_object(Bucket="exports", Key=key)["Body"].read())
    for arn in ["arn:aws:dynamodb:evil.example.com/x:123456789012:table/test",
                "arn:aws:dynamodb:eu-north-1:123456789012:table/../../x",
                "arn:aws:s3:::bucket", "arn:aws:dynamodb:eu-north-1:12:table/test", 7]:
        hostile = {**summary, "tableArn": arn}
        data = json.dumps(hostile).encode()
        regions["s3"].put_object(Bucket="exports", Key=key, Body=data)
        regions["s3"].put_object(Bucket="exports", Key=key.replace(".json", ".md5"),
                                 Body=_b64md5(data))
        code, _, err = _import(capsys, shape.full, lake_dir, *KEY_FLAGS)
        assert code == 4 and "is not a DynamoDB table ARN" in err, (arn, err)
    assert list(lake_dir.iterdir()) == []


def _b64md5(data: bytes) -> bytes:
    from exporter.export_reader import b64_md5

    return b64_md5(data).encode()
