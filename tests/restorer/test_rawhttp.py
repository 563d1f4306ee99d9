"""The raw transport: signed requests on our own connections, errors as ClientError."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from restorer.rawhttp import _result, hooked, raw_writer
from restorer.transport import fast_writer

FAKE = Path(__file__).resolve().parents[2] / "bench" / "restore" / "fakeddb.py"


@pytest.fixture
def fake() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, str(FAKE)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    yield f"http://127.0.0.1:{proc.stdout.readline().strip()}"
    proc.kill()
    proc.wait()


def test_raw_batches_arrive_signed(fake: str) -> None:
    client = boto3.client("dynamodb", endpoint_url=fake, region_name="us-east-1")
    writer = raw_writer(client)
    texts = [json.dumps({"pk": {"S": f"k{i}"}, "b": {"B": "AAE="}}).encode() for i in range(25)]
    for _ in range(3):
        assert writer.batch_put("bench", texts) == {"UnprocessedItems": {}}
    with urllib.request.urlopen(fake + "/stats") as response:
        assert json.loads(response.read())["items"] == 75


def test_errors_become_client_errors() -> None:
    body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}'
    with pytest.raises(ClientError) as e:
        _result("BatchWriteItem", 400, body)
    assert e.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    with pytest.raises(ClientError) as e:
        _result("BatchWriteItem", 503, b"")
    assert e.value.response["Error"]["Code"] == "503"
    answer = b'{"UnprocessedItems":{"t":[{"PutRequest":{"Item":{"pk":{"B":"AAE="}}}}]}}'
    assert _result("BatchWriteItem", 200, answer)["UnprocessedItems"]["t"]


def test_hooked_clients_use_botocore(aws: None) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    assert hooked(client)  # moto's in-process stub intercepts sends: never bypass it
    fast_writer(client)
    assert hooked(client)
