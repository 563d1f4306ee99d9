"""The Lambda handler: a DynamoDB Streams event (wire form, as Lambda delivers it) -> one batch."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from exporter import lambda_handler
from lake.catalog import list_change_batches
from lake.fileio import LocalFileIO, load_file_io
from schemas.errors import UsageError
from tests.changes.lakeread import committed_rows
from tests.helpers import create_table

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-22T07:00:00.000"
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def record(name: str, seq: str, when: float | int, keys: dict[str, Any],
           new: dict[str, Any] | None = None, old: dict[str, Any] | None = None,
           identity: dict[str, str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"ApproximateCreationDateTime": when, "Keys": keys,
                            "SequenceNumber": seq, "SizeBytes": 100,
                            "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if new is not None:
        data["NewImage"] = new
    if old is not None:
        data["OldImage"] = old
    out = {"eventID": seq, "eventName": name, "eventVersion": "1.1",
           "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": data,
           "eventSourceARN": ARN}
    if identity:
        out["userIdentity"] = identity
    return out


def event() -> dict[str, Any]:
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    item = {**key, "bin": {"B": "AP8="}, "n": {"N": "0.1000000000000000000000000000000000001"}}
    changed = {**key, "n": {"N": "2"}, "set": {"BS": ["Ag==", "AQ=="]}}
    return {"Records": [
        record("INSERT", "300000000000000000001", 1795334400, key, new=item),
        record("MODIFY", "300000000000000000002", 1795334400.25, key, new=changed, old=item),
        record("REMOVE", "300000000000000000003", 1795334401, key, old=changed,
               identity=TTL_IDENTITY),
    ]}


@pytest.fixture
def lake_uri(aws: None, ddb: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    create_table(ddb, "orders", sk=("sk", "N"))
    s3.create_bucket(Bucket="lake")
    monkeypatch.setenv("DDBLAKE_LAKE", "s3://lake/prod")
    lambda_handler._KEYS.clear()
    return "s3://lake/prod"


def test_same_event_twice_writes_one_batch(lake_uri: str) -> None:
    first = lambda_handler.handler(event(), None)
    retried = lambda_handler.handler(copy.deepcopy(event()), None)
    assert first["committed"] is True and first["records"] == 3
    assert retried == {**first, "committed": False}
    io = load_file_io(lake_uri)
    batches = list_change_batches(io, "orders")
    assert [b.batch_id for b in batches] == [first["batch_id"]]
    assert batches[0].source["kind"] == "lambda"
    assert batches[0].positions == {"2026-11-22T07:00:00.000": "300000000000000000003"}
    schema = orjson.loads((Path(__file__).parents[2] / "schemas" /
                           "change_batch.schema.json").read_bytes())
    manifest = f"orders/changes/_manifests/{first['batch_id']}.json"
    jsonschema.validate(orjson.loads(io.read(manifest)), schema)


def test_records_keep_every_value_and_ttl_flag(lake_uri: str, tmp_path: Any) -> None:
    lambda_handler.handler(event(), None)
    io = load_file_io(lake_uri)
    local = tmp_path / "lake"
    for info in io.iter_objects("orders/"):
        target = local / info.key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(io.read(info.key))
    rows = committed_rows(LocalFileIO(local), "orders")
    assert [r["_op"] for r in rows] == ["INSERT", "MODIFY", "REMOVE"]
    assert [r["_event_us"] for r in rows] == [1795334400_000000, 1795334400_250000,
                                               1795334401_000000]
    assert [r["_ttl"] for r in rows] == [False, False, True]
    inserted = orjson.loads(rows[0]["_new"])
    assert inserted["bin"] == {"B": "AP8="}
    assert inserted["n"] == {"N": "0.1000000000000000000000000000000000001"}
    assert orjson.loads(rows[1]["_new"])["set"] == {"BS": ["AQ==", "Ag=="]}  # canonical order
    assert rows[2]["_new"] is None and orjson.loads(rows[2]["_old"])["n"] == {"N": "2"}


def test_a_different_event_is_a_new_batch(lake_uri: str) -> None:
    lambda_handler.handler(event(), None)
    later = event()
    later["Records"] = later["Records"][1:]
    assert lambda_handler.handler(later, None)["committed"] is True
    assert len(list_change_batches(load_file_io(lake_uri), "orders")) == 2


def test_missing_lake_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DDBLAKE_LAKE", raising=False)
    with pytest.raises(UsageError, match="DDBLAKE_LAKE"):
        lambda_handler.handler(event(), None)


def test_keys_only_stream_is_refused(lake_uri: str) -> None:
    bad = event()
    for r in bad["Records"]:
        r["dynamodb"]["StreamViewType"] = "KEYS_ONLY"
        r["dynamodb"].pop("NewImage", None)
        r["dynamodb"].pop("OldImage", None)
    with pytest.raises(UsageError, match="KEYS_ONLY"):
        lambda_handler.handler(bad, None)
    assert list_change_batches(load_file_io(lake_uri), "orders") == []


def test_empty_event_writes_nothing(lake_uri: str) -> None:
    assert lambda_handler.handler({"Records": []}, None)["records"] == 0


def test_template_points_at_the_real_handler() -> None:
    import importlib

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        return loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else None

    Loader.add_multi_constructor("!", any_tag)
    path = Path(__file__).parents[2] / "docs" / "lambda-template.yaml"
    template = yaml.load(path.read_text(), Loader=Loader)
    function = template["Resources"]["ChangeCapture"]["Properties"]
    module, _, name = function["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))
    assert lambda_handler.LAKE_VARIABLE in function["Environment"]["Variables"]
    stream = function["Events"]["Stream"]["Properties"]
    assert stream["MaximumRetryAttempts"] == -1 and stream["StartingPosition"] == "TRIM_HORIZON"
