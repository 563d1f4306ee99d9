"""Stream record -> change record conversion, and the change table's key columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from exporter.stream_records import event_micros, padded_seq, to_change_record
from schemas.changes import change_table
from schemas.errors import UsageError
from schemas.keys import KeyAttribute, KeySchema


def test_sequence_numbers_sort_as_numbers_once_padded() -> None:
    numbers = ["9", "10", "300000000000000000001", "4" * 40]
    assert sorted(padded_seq(n) for n in numbers) == [padded_seq(n) for n in numbers]
    with pytest.raises(ValueError):
        padded_seq("12a")


def test_event_time_is_exact_in_every_shape() -> None:
    utc = datetime(2026, 11, 22, 8, 0, 0, 123000, tzinfo=UTC)
    other = utc.astimezone(timezone(timedelta(hours=-7)))
    assert event_micros(utc) == event_micros(other) == 1_795_334_400_123_000
    assert event_micros(1795334400) == 1_795_334_400_000_000
    assert event_micros(1795334400.123) == 1_795_334_400_123_000  # float -> text -> exact
    assert event_micros("1795334400.000001") == 1_795_334_400_000_001


def _client_record(name: str, **data: object) -> dict[str, object]:
    return {"eventName": name, "dynamodb": {
        "ApproximateCreationDateTime": datetime(2026, 11, 22, tzinfo=UTC),
        "SequenceNumber": "100", "StreamViewType": "NEW_AND_OLD_IMAGES", **data}}


def test_client_form_images_become_wire_form() -> None:
    keys = {"id": {"B": b"\x00\xff"}}
    change = to_change_record(_client_record(
        "INSERT", Keys=keys, NewImage={**keys, "bs": {"BS": [b"\x01"]}}), source="s", wire=False)
    assert change.keys == {"id": {"B": "AP8="}}
    assert change.new == {"id": {"B": "AP8="}, "bs": {"BS": ["AQ=="]}}
    assert change.old is None and change.ttl is False


def test_user_delete_is_not_ttl_and_service_delete_is() -> None:
    record = _client_record("REMOVE", Keys={"id": {"S": "a"}}, OldImage={"id": {"S": "a"}})
    assert to_change_record(record, source="s", wire=False).ttl is False
    record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert to_change_record(record, source="s", wire=False).ttl is True
    record["userIdentity"] = {"type": "Service", "principalId": "someone.else"}
    assert to_change_record(record, source="s", wire=False).ttl is False


def test_image_missing_without_view_type_is_refused() -> None:
    record = _client_record("MODIFY", Keys={"id": {"S": "a"}})
    record["dynamodb"].pop("StreamViewType")  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="NEW_AND_OLD_IMAGES"):
        to_change_record(record, source="s", wire=False)


def test_change_table_keys_are_typed_like_snapshots() -> None:
    keys = KeySchema(KeyAttribute("id", "B"), KeyAttribute("n", "N"))
    key = {"id": {"B": "AP8="}, "n": {"N": "1.50"}}
    change = to_change_record(_client_record("INSERT", Keys={"id": {"B": b"\x00\xff"},
                                                             "n": {"N": "1.50"}},
                                             NewImage={"id": {"B": b"\x00\xff"},
                                                       "n": {"N": "1.50"}}),
                              source="s", wire=False)
    assert change.keys == key
    table = change_table([change], keys)
    assert table.column("_pk").to_pylist() == [b"\x00\xff"]
    assert table.column("_sk").to_pylist() == ["1.50"]
