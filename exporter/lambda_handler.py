"""AWS Lambda handler: one DynamoDB Streams event -> one committed change batch.

Configure the function with the environment variable ``DDBLAKE_LAKE`` (``s3://bucket/prefix``)
and a DynamoDB event source mapping on the table's stream (see ``docs/changes.md`` and
``docs/lambda-template.yaml``). The batch id is derived from the event's stream and its first
and last sequence numbers, so a retried invocation (Lambda retries a failed batch with the
same records) commits nothing new: the second commit is refused.

The handler raises on any failure so that Lambda retries the batch; it never drops records.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from exporter.stream_records import to_change_record
from lake import layout
from lake.aws import make_client, translate
from lake.fileio import FileIO, load_file_io
from lake.writers import write_change_batch
from schemas.errors import UsageError
from schemas.keys import KeySchema

LAKE_VARIABLE = "DDBLAKE_LAKE"
_KEYS: dict[str, KeySchema] = {}  # per warm container: table ARN -> key schema


@dataclass(frozen=True)
class StreamArn:
    arn: str
    table: str
    label: str
    table_arn: str

    @classmethod
    def parse(cls, arn: str) -> StreamArn:
        """``arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL``."""
        head, _, rest = arn.partition(":table/")
        name, marker, label = rest.partition("/stream/")
        if not head.startswith("arn:") or not name or not marker or not label:
            raise UsageError(f"{arn!r} is not a DynamoDB stream ARN",
                             hint="attach the function to a DynamoDB stream event source")
        return cls(arn, name, label, f"{head}:table/{name}")


def key_schema(table_arn: str, ddb: Any = None) -> KeySchema:
    """The table's key schema (DescribeTable, cached for the life of the container)."""
    if table_arn not in _KEYS:
        ddb = ddb or make_client("dynamodb")
        try:
            description = ddb.describe_table(TableName=table_arn)["Table"]
        except (ClientError, BotoCoreError) as e:
            raise translate(e, action="describe", resource=f"table {table_arn}") from e
        _KEYS[table_arn] = KeySchema.from_description(description)
    return _KEYS[table_arn]


def write_event(io: FileIO, event: dict[str, Any], *, ddb: Any = None) -> dict[str, Any]:
    """Commit the event's records as one change batch; idempotent for a repeated event."""
    records = event.get("Records") or []
    if not records:
        return {"batch_id": None, "committed": False, "records": 0}
    stream = StreamArn.parse(str(records[0]["eventSourceARN"]))
    layout.check_table_name(stream.table)
    changes = [to_change_record(r, source=f"stream:{stream.label}", wire=True) for r in records]
    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
    when = datetime.fromtimestamp(min(c.event_us for c in changes) / 1_000_000, UTC)
    batch_id = layout.derived_id(when, stream.arn, str(first["SequenceNumber"]),
                                 str(last["SequenceNumber"]), str(len(records)))
    source = {"kind": "lambda", "stream_arn": stream.arn, "stream_label": stream.label,
              "covered_from_us": min(c.event_us for c in changes),
              "covered_to_us": max(c.event_us for c in changes), "gaps": []}
    batch, committed = write_change_batch(
        io, stream.table, key_schema(stream.table_arn, ddb), changes, source=source,
        positions={stream.label: str(last["SequenceNumber"])}, batch_id=batch_id)
    return {"batch_id": batch.batch_id, "committed": committed, "records": batch.rows,
            "table": stream.table}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (``exporter.lambda_handler.handler``)."""
    lake = os.environ.get(LAKE_VARIABLE)
    if not lake:
        raise UsageError(f"the function has no {LAKE_VARIABLE} environment variable",
                         hint=f"set {LAKE_VARIABLE}=s3://BUCKET/PREFIX in the function's "
                              "configuration")
    return write_event(load_file_io(lake), event)
