"""Restores against in-process moto: new tables rebuilt from the manifest, selections,
existing targets, modes and refusals."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from restorer import RestoreConfig, restore
from restorer.config import KeySchemaMismatch, RestoreIncomplete, TargetExistsError
from schemas.dynamo_json import from_client, to_client, value_key
from schemas.errors import NotFoundError, SandboxError
from tests.helpers import REGION, create_table, put_items, scan_all
from tests.restorer.lakehelp import snapshot_items, snapshot_table

B64 = base64.b64encode(bytes(range(256))).decode()


def corpus(n: int = 60) -> list[dict[str, Any]]:
    """Every DynamoDB type, numbers that only compare by value, binary, sets, nesting."""
    items = []
    for i in range(n):
        items.append({
            "pk": {"S": f"p{i % 7}"}, "sk": {"N": str(i)},
            "gpk": {"S": f"g{i % 3}"}, "lsk": {"S": f"l{i:03d}"},
            "s": {"S": "é😀\u2028" + "x" * i}, "empty": {"S": ""},
            "n38": {"N": "12345678901234567890123456789012345678"},
            "nsmall": {"N": "1E-130"},
            "nexp": {"N": "9.9999999999999999999999999999999999999E+125"},
            "n2_53": {"N": "9007199254740993"}, "neg": {"N": f"-{i}.50"},
            "b": {"B": B64}, "bempty": {"B": ""}, "bool": {"BOOL": i % 2 == 0},
            "null": {"NULL": True}, "ss": {"SS": ["b", "a", "é", ""]},
            "ns": {"NS": ["10", "9", "-1.5"]}, "bs": {"BS": ["AQ==", "AA=="]},
            "m": {"M": {"a.b": {"L": [{"N": "1"}, {"S": "s"}, {"NULL": True}, {"M": {}}]},
                        "deep": {"M": {"x": {"L": []}}}}},
            "a b#:😀": {"S": "odd name"},
        })
    return items


DESCRIPTION_EXTRA = {
    "AttributeDefinitions": [{"AttributeName": "gpk", "AttributeType": "S"},
                             {"AttributeName": "lsk", "AttributeType": "S"}],
    "GlobalSecondaryIndexes": [{"IndexName": "by-g",
                                "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}],
                                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    "LocalSecondaryIndexes": [{"IndexName": "by-l",
                               "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                             {"AttributeName": "lsk", "KeyType": "RANGE"}],
                               "Projection": {"ProjectionType": "INCLUDE",
                                              "NonKeyAttributes": ["s"]}}],
}


def _values(items: list[dict[str, Any]]) -> set[Any]:
    return {value_key(i) for i in items}


def _table_values(ddb: Any, table: str) -> set[Any]:
    return _values([from_client(i) for i in scan_all(ddb, table)])


@pytest.fixture
def session(aws: None) -> boto3.Session:
    return boto3.Session(region_name=REGION)


@pytest.fixture
def source(session: boto3.Session, lake_dir: Path) -> dict[str, Any]:
    ddb = session.client("dynamodb")
    create_table(ddb, "orders", sk=("sk", "N"), **json.loads(json.dumps(DESCRIPTION_EXTRA)))
    items = corpus()
    put_items(ddb, "orders", [to_client(i) for i in items])
    manifest = snapshot_table(ddb, lake_dir, "orders", parts=3)
    return {"ddb": ddb, "items": items, "manifest": manifest}


def _config(lake: Path, **kw: Any) -> RestoreConfig:
    kw.setdefault("target", "orders-restored")
    return RestoreConfig(lake=str(lake), unit_rows=25, threads=2, **kw)


def test_full_restore_rebuilds_table_and_equals_source(session: Any, source: dict[str, Any],
                                                       lake_dir: Path) -> None:
    result = restore(_config(lake_dir), session=session)
    ddb = source["ddb"]
    assert result.ok and result.created_table and result.written == len(source["items"])
    assert result.verification is not None and result.verification.method == "scan"
    assert _table_values(ddb, "orders-restored") == _values(source["items"])
    assert _table_values(ddb, "orders-restored") == _table_values(ddb, "orders")
    table = ddb.describe_table(TableName="orders-restored")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    gsi, = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by-g" and gsi["Projection"]["ProjectionType"] == "KEYS_ONLY"
    lsi, = table["LocalSecondaryIndexes"]
    assert lsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["s"]}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_no_indexes_and_billing_override(session: Any, source: dict[str, Any],
                                         lake_dir: Path) -> None:
    restore(_config(lake_dir, no_indexes=True, billing_mode="PROVISIONED"), session=session)
    table = source["ddb"].describe_table(TableName="orders-restored")["Table"]
    assert not table.get("GlobalSecondaryIndexes") and not table.get("LocalSecondaryIndexes")
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] >= 1


def test_where_selects_exactly(session: Any, source: dict[str, Any], lake_dir: Path) -> None:
    result = restore(_config(lake_dir, where="pk = 'p3' AND bool"), session=session)
    expected = [i for i in source["items"] if i["pk"]["S"] == "p3" and i["bool"]["BOOL"]]
    assert result.selected == len(expected) > 0
    assert _table_values(source["ddb"], "orders-restored") == _values(expected)


def test_keys_file_csv_and_numbers_by_value(session: Any, source: dict[str, Any],
                                            lake_dir: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys.csv"
    keys.write_text("pk,sk\np0,7.0\np3,1E+1\np0,14\nmissing,1\n")  # 7.0 is 7, 1E+1 is 10
    result = restore(_config(lake_dir, keys_file=str(keys)), session=session)
    expected = [i for i in source["items"]
                if (i["pk"]["S"], i["sk"]["N"]) in {("p0", "7"), ("p3", "10"), ("p0", "14")}]
    assert result.selected == len(expected) == 3
    assert _table_values(source["ddb"], "orders-restored") == _values(expected)


def test_keys_file_json_lines(session: Any, source: dict[str, Any], lake_dir: Path,
                              tmp_path: Path) -> None:
    keys = tmp_path / "keys.jsonl"
    keys.write_text('{"pk": "p2", "sk": 2}\n{"pk": {"S": "p4"}, "sk": {"N": "4.00"}}\n')
    result = restore(_config(lake_dir, keys_file=str(keys)), session=session)
    assert result.selected == 2
    got = {(i["pk"]["S"], i["sk"]["N"]) for i in scan_all(source["ddb"], "orders-restored")}
    assert got == {("p2", "2"), ("p4", "4")}


def test_dry_run_writes_nothing(session: Any, source: dict[str, Any], lake_dir: Path) -> None:
    result = restore(_config(lake_dir, dry_run=True, where="pk = 'p1'"), session=session)
    assert result.dry_run and result.selected == 9 and len(result.sample) == 3
    assert all(json.loads(s)["pk"] == {"S": "p1"} for s in result.sample)
    assert "orders-restored" not in source["ddb"].list_tables()["TableNames"]


def test_target_exists_is_refused(session: Any, source: dict[str, Any], lake_dir: Path) -> None:
    with pytest.raises(TargetExistsError) as e:
        restore(_config(lake_dir, target="orders"), session=session)
    assert "--existing" in (e.value.hint or "")


def test_key_schema_mismatch_refused_before_any_write(session: Any, source: dict[str, Any],
                                                      lake_dir: Path) -> None:
    ddb = source["ddb"]
    create_table(ddb, "wrong", pk=("pk", "S"), sk=("sk", "S"))  # sk is S, snapshot's is N
    with pytest.raises(KeySchemaMismatch) as e:
        restore(_config(lake_dir, target="wrong", existing=True), session=session)
    assert "sk (N, RANGE)" in e.value.message and e.value.exit_code == 2
    assert scan_all(ddb, "wrong") == []


def test_existing_target_must_exist(session: Any, source: dict[str, Any],
                                    lake_dir: Path) -> None:
    with pytest.raises(NotFoundError):
        restore(_config(lake_dir, target="nope-table", existing=True), session=session)


def test_put_if_absent_leaves_newer_items_alone(session: Any, source: dict[str, Any],
                                                lake_dir: Path) -> None:
    ddb = source["ddb"]
    newer = {"pk": {"S": "p0"}, "sk": {"N": "0"}, "s": {"S": "newer"}}
    ddb.put_item(TableName="orders", Item=to_client(newer))
    ddb.delete_item(TableName="orders", Key={"pk": {"S": "p1"}, "sk": {"N": "1"}})
    result = restore(_config(lake_dir, target="orders", existing=True, mode="put-if-absent"),
                     session=session)
    assert result.written == 1 and result.skipped_existing == len(source["items"]) - 1
    assert result.verification is not None and result.verification.ok
    got = ddb.get_item(TableName="orders", Key={"pk": {"S": "p0"}, "sk": {"N": "0"}})["Item"]
    assert from_client(got) == newer
    back = ddb.get_item(TableName="orders", Key={"pk": {"S": "p1"}, "sk": {"N": "1"}})["Item"]
    assert value_key(from_client(back)) == value_key(source["items"][1])


def test_put_overwrites_existing(session: Any, source: dict[str, Any], lake_dir: Path) -> None:
    ddb = source["ddb"]
    ddb.put_item(TableName="orders", Item={"pk": {"S": "p0"}, "sk": {"N": "0"}})
    result = restore(_config(lake_dir, target="orders", existing=True), session=session)
    assert result.ok and result.verification and result.verification.method == "batch-get"
    assert _table_values(ddb, "orders") == _values(source["items"])


def test_hostile_where_is_refused(session: Any, source: dict[str, Any], lake_dir: Path) -> None:
    with pytest.raises(SandboxError):
        restore(_config(lake_dir, where="(SELECT count(*) FROM read_csv('/etc/passwd')) > 0"),
                session=session)
    with pytest.raises(SandboxError):
        restore(_config(lake_dir, where="true; DROP TABLE x"), session=session)
    assert "orders-restored" not in source["ddb"].list_tables()["TableNames"]


def test_invalid_items_go_to_dead_letters(session: Any, lake_dir: Path) -> None:
    ddb = session.client("dynamodb")
    description = create_table(ddb, "bad")
    from exporter.describe import describe_table

    good = [{"pk": {"S": f"k{i}"}} for i in range(10)]
    bad = {"pk": {"S": "k-bad"}, "n": {"N": "1234567890123456789012345678901234567890"}}
    assert description
    snapshot_items(lake_dir, "bad", [*good, bad], describe_table(ddb, "bad"), parts=1)
    with pytest.raises(RestoreIncomplete) as e:
        restore(_config(lake_dir, target="bad-restored"), session=session)
    result = e.value.result
    assert result.dead_letters == 1 and result.written == 10 and e.value.exit_code == 9
    assert result.dead_letter_uri is not None
    lines = [json.loads(line) for p in sorted(Path(result.dead_letter_uri).glob("*.jsonl"))
             for line in p.read_text().splitlines()]
    assert [line["item"] for line in lines] == [bad]
    assert "number-precision" in lines[0]["error"]


def test_skip_expired(session: Any, lake_dir: Path) -> None:
    ddb = session.client("dynamodb")
    create_table(ddb, "ttl-table")
    ddb.update_time_to_live(TableName="ttl-table", TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "expires"})
    items = [{"pk": {"S": "old"}, "expires": {"N": "1000"}},
             {"pk": {"S": "future"}, "expires": {"N": "99999999999"}},
             {"pk": {"S": "none"}}]
    put_items(ddb, "ttl-table", [to_client(i) for i in items])
    snapshot_table(ddb, lake_dir, "ttl-table", parts=1)
    result = restore(_config(lake_dir, target="ttl-restored", skip_expired=True,
                             with_features=frozenset({"ttl"})), session=session)
    assert result.skipped_expired == 1 and result.written == 2 and result.ok
    assert {i["pk"]["S"] for i in scan_all(ddb, "ttl-restored")} == {"future", "none"}
    ttl = ddb.describe_time_to_live(TableName="ttl-restored")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires"
