"""Everything a restore needs to rebuild a table, captured at export time.

DescribeTable plus TTL, continuous backups (PITR) and tags, reduced to the fields
CreateTable/UpdateTable accept. Missing permissions for the optional parts are recorded
(``"unavailable": reason``), never fatal.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lake.aws import translate

_INDEX_FIELDS = ("IndexName", "KeySchema", "Projection")


def _index(index: dict[str, Any]) -> dict[str, Any]:
    kept = {k: index[k] for k in _INDEX_FIELDS if k in index}
    throughput = index.get("ProvisionedThroughput") or {}
    if throughput.get("ReadCapacityUnits"):
        kept["ProvisionedThroughput"] = {
            "ReadCapacityUnits": throughput["ReadCapacityUnits"],
            "WriteCapacityUnits": throughput["WriteCapacityUnits"]}
    return kept


def _optional(call: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return dict(call(**kwargs))
    except (ClientError, BotoCoreError) as e:
        return {"unavailable": str(e)}


def describe_table(ddb: Any, table: str) -> dict[str, Any]:
    """The table's rebuildable description (JSON-safe). ``table`` is a name (in the client's
    region and account) or a table ARN (that table, wherever the client's region is)."""
    try:
        raw = ddb.describe_table(TableName=table)["Table"]
    except (ClientError, BotoCoreError) as e:
        raise translate(e, action="describe", resource=f"table {table}") from e
    billing = (raw.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    throughput = raw.get("ProvisionedThroughput") or {}
    description: dict[str, Any] = {
        "TableName": raw["TableName"],
        "TableArn": raw.get("TableArn"),
        "TableId": raw.get("TableId"),
        "KeySchema": raw["KeySchema"],
        "AttributeDefinitions": raw["AttributeDefinitions"],
        "BillingMode": billing,
        "GlobalSecondaryIndexes": [_index(i) for i in raw.get("GlobalSecondaryIndexes", [])],
        "LocalSecondaryIndexes": [_index(i) for i in raw.get("LocalSecondaryIndexes", [])],
        "StreamSpecification": raw.get("StreamSpecification"),
        "LatestStreamArn": raw.get("LatestStreamArn"),
        "SSEDescription": raw.get("SSEDescription"),
        "TableClass": (raw.get("TableClassSummary") or {}).get("TableClass", "STANDARD"),
        "DeletionProtectionEnabled": bool(raw.get("DeletionProtectionEnabled", False)),
        "ItemCountEstimate": raw.get("ItemCount"),
        "TableSizeBytesEstimate": raw.get("TableSizeBytes"),
    }
    if billing == "PROVISIONED":
        description["ProvisionedThroughput"] = {
            "ReadCapacityUnits": throughput.get("ReadCapacityUnits", 1),
            "WriteCapacityUnits": throughput.get("WriteCapacityUnits", 1)}
    ttl = _optional(ddb.describe_time_to_live, TableName=table)
    description["TimeToLive"] = ttl.get("TimeToLiveDescription", ttl)
    backups = _optional(ddb.describe_continuous_backups, TableName=table)
    description["ContinuousBackups"] = backups.get("ContinuousBackupsDescription", backups)
    if raw.get("TableArn"):
        tags = _optional(ddb.list_tags_of_resource, ResourceArn=raw["TableArn"])
        description["Tags"] = tags.get("Tags", tags)
    safe: dict[str, Any] = _json_safe(description)
    return safe


def _json_safe(value: Any) -> Any:
    from datetime import datetime

    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
