"""DynamoDB Streams records -> :class:`ChangeRecord`.

Two shapes arrive here:

* the botocore-parsed ``GetRecords`` response (the ``ddblake stream`` consumer): images in
  client form (``B`` as bytes), ``ApproximateCreationDateTime`` as a ``datetime``;
* a Lambda event (``exporter.lambda_handler``): images already in wire form (``B`` as base64),
  ``ApproximateCreationDateTime`` as epoch seconds (a JSON number).

Images are never passed through boto3's ``TypeDeserializer``; numbers stay exact strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from schemas.changes import OPERATIONS, ChangeRecord, Operation
from schemas.dynamo_json import Item, from_client
from schemas.errors import UsageError

# DynamoDB sequence numbers are decimal strings of 21 to 40 digits; zero-padding them to a
# fixed width makes the string order equal to the numeric order.
SEQ_WIDTH = 40
REQUIRED_VIEW = "NEW_AND_OLD_IMAGES"
TTL_PRINCIPAL = "dynamodb.amazonaws.com"


def padded_seq(sequence_number: str) -> str:
    """The sortable form of a sequence number (``_seq`` column)."""
    if not sequence_number.isdigit() or len(sequence_number) > SEQ_WIDTH:
        raise ValueError(f"unexpected stream sequence number {sequence_number!r}")
    return sequence_number.zfill(SEQ_WIDTH)


def seq_value(sequence_number: str) -> int:
    """Sequence numbers compare as integers."""
    return int(sequence_number)


def event_micros(value: Any) -> int:
    """``ApproximateCreationDateTime`` (datetime or epoch seconds) -> microseconds, exactly."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("ApproximateCreationDateTime has no time zone")
        whole = int(value.timestamp())
        return whole * 1_000_000 + value.microsecond
    seconds = Decimal(str(value))
    return int((seconds * 1_000_000).to_integral_value())


def is_ttl_delete(record: dict[str, Any]) -> bool:
    """True when DynamoDB's Time To Live removed the item (not a user's DeleteItem)."""
    identity = record.get("userIdentity") or {}
    return bool(identity.get("type") == "Service"
                and identity.get("principalId") == TTL_PRINCIPAL)


def check_view_type(view_type: str | None, where: str) -> None:
    if view_type != REQUIRED_VIEW:
        raise UsageError(
            f"{where} has stream view type {view_type or 'none'}; ddblake needs "
            f"{REQUIRED_VIEW} to reconstruct items",
            hint="aws dynamodb update-table --table-name TABLE --stream-specification "
                 "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES (a table's view type "
                 "cannot change in place: disable the stream, then enable it again)")


def _image(data: dict[str, Any], name: str, wire: bool) -> Item | None:
    image = data.get(name)
    if image is None:
        return None
    return dict(image) if wire else from_client(image)


def to_change_record(record: dict[str, Any], *, source: str, wire: bool) -> ChangeRecord:
    """One stream record -> one change record; ``wire`` says the images are base64 wire form."""
    data = record["dynamodb"]
    op = record["eventName"]
    if op not in OPERATIONS:
        raise ValueError(f"unknown stream eventName {op!r}")
    operation: Operation = op
    view = data.get("StreamViewType")
    if view is not None:
        check_view_type(view, "the stream")
    keys = _image(data, "Keys", wire) or {}
    new = _image(data, "NewImage", wire) if operation != "REMOVE" else None
    old = _image(data, "OldImage", wire)
    if operation != "REMOVE" and new is None:
        check_view_type(view, "the stream")
    return ChangeRecord(
        event_us=event_micros(data["ApproximateCreationDateTime"]), op=operation, keys=keys,
        new=new, old=old, source=source, seq=padded_seq(str(data["SequenceNumber"])),
        ttl=operation == "REMOVE" and is_ttl_delete(record))
