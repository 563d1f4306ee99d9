"""A table's primary key: which attributes, of which scalar types."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from schemas.dynamo_json import AttributeValue, Item
from schemas.errors import UsageError

KeyType = Literal["S", "N", "B"]


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: KeyType

    def __post_init__(self) -> None:
        if self.type not in ("S", "N", "B"):
            raise UsageError(f"key attribute {self.name!r} has type {self.type!r}; "
                             "DynamoDB keys are S, N or B")


@dataclass(frozen=True)
class KeySchema:
    partition: KeyAttribute
    sort: KeyAttribute | None = None

    @property
    def attributes(self) -> tuple[KeyAttribute, ...]:
        return (self.partition,) if self.sort is None else (self.partition, self.sort)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes)

    def key_of(self, item: Item) -> Item:
        """The key attributes of a wire-form item."""
        return {name: item[name] for name in self.names}

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> KeySchema:
        """From DescribeTable's ``Table`` (``KeySchema`` + ``AttributeDefinitions``)."""
        types = {d["AttributeName"]: d["AttributeType"]
                 for d in description["AttributeDefinitions"]}
        by_role = {k["KeyType"]: k["AttributeName"] for k in description["KeySchema"]}
        sort = by_role.get("RANGE")
        return cls(KeyAttribute(by_role["HASH"], types[by_role["HASH"]]),
                   KeyAttribute(sort, types[sort]) if sort else None)

    def to_dict(self) -> dict[str, Any]:
        sort = None if self.sort is None else {"name": self.sort.name, "type": self.sort.type}
        return {"partition": {"name": self.partition.name, "type": self.partition.type},
                "sort": sort}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeySchema:
        sort = data.get("sort")
        return cls(KeyAttribute(data["partition"]["name"], data["partition"]["type"]),
                   KeyAttribute(sort["name"], sort["type"]) if sort else None)


def key_order(av: AttributeValue) -> Any:
    """DynamoDB's ordering of a key value: S by UTF-8 bytes, N by value, B by unsigned bytes."""
    tag, inner = next(iter(av.items()))
    if tag == "S":
        return inner.encode("utf-8")
    if tag == "N":
        return Decimal(inner)
    return base64.b64decode(inner)
