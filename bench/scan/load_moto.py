"""Create the ``orders`` table on a moto server and load the benchmark items into it.

    python load_moto.py ENDPOINT N
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from replay_server import describe, load_items

from schemas.dynamo_json import to_client


def main() -> None:
    endpoint, n = sys.argv[1], int(sys.argv[2])
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    table = describe(0, 0)["Table"]
    client.create_table(TableName="orders", KeySchema=table["KeySchema"],
                        AttributeDefinitions=table["AttributeDefinitions"],
                        BillingMode="PAY_PER_REQUEST")
    items = [to_client(orjson.loads(line)) for line in load_items(n)]
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]
        client.batch_write_item(RequestItems={"orders": batch})


if __name__ == "__main__":
    main()
