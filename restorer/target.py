"""The table a restore writes to: a new one rebuilt from the manifest, or an existing one
whose key schema and key types match the snapshot's (checked before any write).

A new table gets what DynamoDB's own restores carry over (key schema, attribute
definitions, GSIs and LSIs with their projections, billing mode and throughput, SSE, table
class); ``--with`` adds what they leave behind (TTL, streams, PITR, tags, deletion
protection), from what the manifest captured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lake.aws import error_code, translate
from restorer.config import KeySchemaMismatch, RestoreConfig, TargetExistsError
from schemas.errors import AwsError
from schemas.keys import KeySchema


def describe(ddb: Any, name: str) -> dict[str, Any] | None:
    """The target's DescribeTable ``Table``, or None when it does not exist."""
    try:
        return dict(ddb.describe_table(TableName=name)["Table"])
    except ClientError as e:
        if error_code(e) == "ResourceNotFoundException":
            return None
        raise translate(e, action="describe", resource=f"table {name}") from e
    except BotoCoreError as e:
        raise translate(e, action="describe", resource=f"table {name}") from e


def check_key_schema(description: dict[str, Any], keys: KeySchema) -> None:
    """Refuse a target whose key attributes or key types differ from the snapshot's."""
    found = KeySchema.from_description(description)
    if found != keys:
        raise KeySchemaMismatch(
            f"table {description['TableName']} has key {_show(found)}, the snapshot has "
            f"{_show(keys)}; nothing was written",
            hint="restore into a new table (leave out --existing and pick a new --to name)")


def _show(keys: KeySchema) -> str:
    return ", ".join(f"{a.name} ({a.type}, {'HASH' if i == 0 else 'RANGE'})"
                     for i, a in enumerate(keys.attributes))


def _indexes(description: dict[str, Any], billing: str, config: RestoreConfig,
             kind: str) -> list[dict[str, Any]]:
    if config.no_indexes:
        return []
    indexes = []
    for index in description.get(kind) or []:
        kept = {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
        if kind == "GlobalSecondaryIndexes" and billing == "PROVISIONED":
            kept["ProvisionedThroughput"] = index.get("ProvisionedThroughput") or \
                description.get("ProvisionedThroughput") or _DEFAULT_THROUGHPUT
        indexes.append(kept)
    return indexes


_DEFAULT_THROUGHPUT = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}


def create_params(description: dict[str, Any], config: RestoreConfig) -> dict[str, Any]:
    """CreateTable parameters rebuilt from a manifest's table description."""
    billing = config.billing_mode or description.get("BillingMode") or "PAY_PER_REQUEST"
    params: dict[str, Any] = {"TableName": config.target, "KeySchema": description["KeySchema"],
                              "BillingMode": billing}
    gsis = _indexes(description, billing, config, "GlobalSecondaryIndexes")
    lsis = _indexes(description, billing, config, "LocalSecondaryIndexes")
    used = {k["AttributeName"] for k in description["KeySchema"]}
    for index in gsis + lsis:
        used |= {k["AttributeName"] for k in index["KeySchema"]}
    params["AttributeDefinitions"] = [d for d in description["AttributeDefinitions"]
                                      if d["AttributeName"] in used]
    if gsis:
        params["GlobalSecondaryIndexes"] = gsis
    if lsis:
        params["LocalSecondaryIndexes"] = lsis
    if billing == "PROVISIONED":
        params["ProvisionedThroughput"] = description.get("ProvisionedThroughput") or \
            _DEFAULT_THROUGHPUT
    sse = description.get("SSEDescription") or {}
    if sse.get("Status") in ("ENABLED", "ENABLING") and sse.get("SSEType") == "KMS":
        params["SSESpecification"] = {"Enabled": True, "SSEType": "KMS"}
        if sse.get("KMSMasterKeyArn"):
            params["SSESpecification"]["KMSMasterKeyId"] = sse["KMSMasterKeyArn"]
    if description.get("TableClass"):
        params["TableClass"] = description["TableClass"]
    _opt_ins(description, config, params)
    return params


def _opt_ins(description: dict[str, Any], config: RestoreConfig, params: dict[str, Any]) -> None:
    wanted = config.with_features
    stream = description.get("StreamSpecification") or {}
    if "streams" in wanted and stream.get("StreamEnabled"):
        params["StreamSpecification"] = {"StreamEnabled": True,
                                         "StreamViewType": stream["StreamViewType"]}
    if "deletion-protection" in wanted and description.get("DeletionProtectionEnabled"):
        params["DeletionProtectionEnabled"] = True
    tags = description.get("Tags")
    if "tags" in wanted and isinstance(tags, list) and tags:
        params["Tags"] = tags


def wait_active(ddb: Any, name: str, *, timeout: float = 600.0,
                sleep: Callable[[float], None] = time.sleep) -> None:
    deadline = time.monotonic() + timeout
    while True:
        table = describe(ddb, name)
        indexes = (table or {}).get("GlobalSecondaryIndexes") or []
        if table and table.get("TableStatus") == "ACTIVE" and all(
                i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes):
            return
        if time.monotonic() > deadline:
            raise AwsError(f"table {name} did not become ACTIVE within {timeout:.0f} s",
                           hint="check the table in the console, then re-run with --resume")
        sleep(2.0)


def create_target(ddb: Any, description: dict[str, Any], config: RestoreConfig) -> list[str]:
    """Create the new table and apply the opt-ins; return notes for the summary."""
    if describe(ddb, config.target) is not None:
        raise TargetExistsError(f"table {config.target} already exists",
                                hint="pick a new --to name, or pass --existing to write into it "
                                     "(after a key schema check)")
    params = create_params(description, config)
    try:
        ddb.create_table(**params)
    except (ClientError, BotoCoreError) as e:
        raise translate(e, action="create", resource=f"table {config.target}") from e
    wait_active(ddb, config.target)
    return _after_create(ddb, description, config)


def _after_create(ddb: Any, description: dict[str, Any], config: RestoreConfig) -> list[str]:
    notes = []
    ttl = description.get("TimeToLive") or {}
    if "ttl" in config.with_features and ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        _call(ddb.update_time_to_live, config.target, TableName=config.target,
              TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]})
        notes.append(f"TTL on {ttl['AttributeName']}")
    pitr = (description.get("ContinuousBackups") or {}).get(
        "PointInTimeRecoveryDescription") or {}
    if "pitr" in config.with_features and pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
        _call(ddb.update_continuous_backups, config.target, TableName=config.target,
              PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        notes.append("PITR enabled")
    return notes


def _call(method: Any, name: str, **params: Any) -> None:
    try:
        method(**params)
    except (ClientError, BotoCoreError) as e:
        raise translate(e, action="configure", resource=f"table {name}") from e
