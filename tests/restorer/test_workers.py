"""A restore through worker processes (fork server) and the raw transport, against the moto
server: every valid item arrives, the invalid one is a dead letter, the target verifies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from ddblake import sampledata
from exporter.describe import describe_table
from restorer import RestoreConfig, restore
from restorer.config import RestoreIncomplete
from schemas.dynamo_json import from_client, value_key
from tests.helpers import REGION, create_table, scan_all
from tests.restorer.lakehelp import snapshot_items


def test_two_workers_write_every_unit(server_env: dict[str, str], lake_dir: Path) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, "wsrc", sk=("sk", "S"))
    items: list[dict[str, Any]] = list(sampledata.orders(120))
    items[7]["n"] = {"N": "1" * 39}  # more digits than DynamoDB keeps
    bad = json.loads(json.dumps(items[7]))
    snapshot_items(lake_dir, "wsrc", items, describe_table(ddb, "wsrc"), parts=2)
    config = RestoreConfig(lake=str(lake_dir), target="wdst", workers=2, threads=2,
                           unit_rows=20)
    with pytest.raises(RestoreIncomplete) as e:
        restore(config)
    result = e.value.result
    assert (result.written, result.dead_letters, result.units) == (119, 1, 6)
    assert result.verification is not None and result.verification.ok
    restored = {value_key(from_client(i)) for i in scan_all(ddb, "wdst")}
    assert restored == {value_key(i) for i in items if i["sk"] != bad["sk"]}
    assert result.dead_letter_uri is not None
    lines = [json.loads(line) for p in Path(result.dead_letter_uri).glob("*.jsonl")
             for line in p.read_text().splitlines()]
    assert [line["item"]["sk"] for line in lines] == [bad["sk"]]
