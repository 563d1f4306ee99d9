"""DynamoDB's documented limits, checked before anything is written to DynamoDB.

moto accepts many items real DynamoDB rejects (39-digit numbers, ``1E+126``, duplicate set
members, empty binary sets, 40-deep nesting, two-type values), so ddblake checks them itself.
Every error names the attribute path and the rule broken.

Sources: DynamoDB Developer Guide, "Service, account, and table quotas", "Supported data
types and naming rules", "Item sizes and formats".
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal
from typing import Any

from schemas.dynamo_json import AttributeValue, Item, normalize_number
from schemas.errors import ItemValidationError
from schemas.keys import KeySchema

MAX_ITEM_BYTES = 409_600
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_NAME_BYTES = 65_535
MAX_DEPTH = 32  # "up to 32 levels": 31 map wraps around a scalar are accepted, 32 are not
MAX_DIGITS = 38
NUMBER_MAX = Decimal("9.9999999999999999999999999999999999999E+125")
NUMBER_MIN = Decimal("1E-130")
TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# Plain decimals of at most 38 digits (almost every number) are valid by construction:
# at most 38 significant digits, magnitude below 1E38 and, when not zero, at least 1E-37.
_PLAIN = re.compile(r"-?\d+(?:\.\d+)?")


def _plain(text: str) -> bool:
    return len(text) <= 40 and _PLAIN.fullmatch(text) is not None and \
        len(text) - text.startswith("-") - ("." in text) <= MAX_DIGITS


def check_number(text: Any, path: str) -> Decimal:
    """Parse an ``N`` string under DynamoDB's rules; raise ItemValidationError if it breaks one."""
    if not isinstance(text, str):
        raise ItemValidationError(path, "number-text", "a number must be sent as a string")
    if _plain(text):
        return Decimal(text)
    if not _NUMBER.fullmatch(text):
        raise ItemValidationError(path, "number-grammar", f"{text[:50]!r} is not a number")
    value = Decimal(text)
    if not value:
        return value
    digits = value.as_tuple().digits
    significant = len("".join(map(str, digits)).strip("0"))
    if significant > MAX_DIGITS:
        raise ItemValidationError(path, "number-precision",
                                  f"{significant} significant digits; DynamoDB keeps at most 38")
    magnitude = value.copy_abs()  # exact: abs() would round to the default context
    if magnitude > NUMBER_MAX or magnitude < NUMBER_MIN:
        raise ItemValidationError(path, "number-range",
                                  f"{text[:50]} is outside DynamoDB's range 1E-130 .. 9.99E+125")
    return value


def _number_size(text: str) -> int:
    if _plain(text):
        digits = text.lstrip("-").replace(".", "").strip("0")
        return (len(digits) + 1) // 2 + 1 if digits else 1
    value = Decimal(text)
    if not value:
        return 1
    significant = len("".join(map(str, value.as_tuple().digits)).strip("0"))
    return (significant + 1) // 2 + 1


def _binary(text: Any, path: str) -> bytes:
    if not isinstance(text, str):
        raise ItemValidationError(path, "binary-base64", "binary must be base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ItemValidationError(path, "binary-base64", "binary is not valid base64") from e


def _check_name(name: Any, path: str) -> int:
    if not isinstance(name, str) or not name:
        raise ItemValidationError(path or "<item>", "attribute-name", "attribute names must be "
                                  "non-empty strings")
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise ItemValidationError(path, "attribute-name",
                                  f"attribute name of {size} bytes; the limit is 64 KB")
    return size


def value_size(av: Any, path: str, depth: int = 1) -> int:
    """Validate one wire-form attribute value and return its size by AWS's rules."""
    if not isinstance(av, dict) or len(av) != 1:
        raise ItemValidationError(path, "one-type", "a value must have exactly one type "
                                  f"descriptor, got {sorted(av) if isinstance(av, dict) else av!r}")
    (tag, inner), = av.items()
    if tag not in TYPES:
        raise ItemValidationError(path, "type", f"unknown type descriptor {tag!r}")
    if tag == "S":
        if not isinstance(inner, str):
            raise ItemValidationError(path, "string", "S must be a string")
        return len(inner.encode("utf-8"))
    if tag == "N":
        check_number(inner, path)
        return _number_size(inner)
    if tag == "B":
        return len(_binary(inner, path))
    if tag == "BOOL":
        if not isinstance(inner, bool):
            raise ItemValidationError(path, "bool", "BOOL must be true or false")
        return 1
    if tag == "NULL":
        if inner is not True:
            raise ItemValidationError(path, "null", "NULL must be true")
        return 1
    if tag in ("SS", "NS", "BS"):
        return _set_size(tag, inner, path)
    if depth >= MAX_DEPTH:
        raise ItemValidationError(path, "nesting", "nesting exceeds DynamoDB's 32 levels")
    if tag == "L":
        if not isinstance(inner, list):
            raise ItemValidationError(path, "list", "L must be a list")
        return 3 + sum(1 + value_size(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(inner))
    if not isinstance(inner, dict):
        raise ItemValidationError(path, "map", "M must be an object")
    return 3 + sum(1 + _check_name(k, f"{path}.{k}") + value_size(v, f"{path}.{k}", depth + 1)
                   for k, v in inner.items())


def _set_size(tag: str, members: Any, path: str) -> int:
    if not isinstance(members, list) or not members:
        raise ItemValidationError(path, "set-empty", f"{tag} must be a non-empty list")
    if tag == "SS":
        if not all(isinstance(m, str) for m in members):
            raise ItemValidationError(path, "set-type", "SS members must be strings")
        keys: list[Any] = members
        size = sum(len(m.encode("utf-8")) for m in members)
    elif tag == "NS":
        for i, m in enumerate(members):
            check_number(m, f"{path}[{i}]")
        keys = [normalize_number(m) for m in members]
        size = sum(_number_size(m) for m in members)
    else:
        raw = [_binary(m, f"{path}[{i}]") for i, m in enumerate(members)]
        keys = raw
        size = sum(len(b) for b in raw)
    if len(set(keys)) != len(keys):
        raise ItemValidationError(path, "set-duplicates", f"{tag} members must be unique")
    return size


def item_size(item: Item) -> int:
    """Validate a wire-form item and return its size in bytes by AWS's rules."""
    if not isinstance(item, dict):
        raise ItemValidationError("<item>", "item", "an item must be an object")
    return sum(_check_name(name, name) + value_size(av, name) for name, av in item.items())


def _key_bytes(av: AttributeValue) -> int:
    (tag, inner), = av.items()
    if tag == "S":
        return len(inner.encode("utf-8"))
    if tag == "B":
        return len(base64.b64decode(inner))
    return _number_size(inner)


def validate_item(item: Item, keys: KeySchema | None = None) -> int:
    """Check every documented limit DynamoDB enforces on a put; return the item size."""
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ItemValidationError("<item>", "item-size",
                                  f"item is {size} bytes; DynamoDB's limit is {MAX_ITEM_BYTES}")
    if keys is not None:
        for attr, limit in ((keys.partition, MAX_PARTITION_KEY_BYTES),
                            (keys.sort, MAX_SORT_KEY_BYTES)):
            if attr is None:
                continue
            av = item.get(attr.name)
            if av is None:
                raise ItemValidationError(attr.name, "key-missing", "key attribute is missing")
            tag = next(iter(av))
            if tag != attr.type:
                raise ItemValidationError(attr.name, "key-type",
                                          f"key has type {tag}; the table expects {attr.type}")
            key_len = _key_bytes(av)
            if attr.type != "N" and key_len == 0:
                raise ItemValidationError(attr.name, "key-empty", "key values cannot be empty")
            if key_len > limit:
                raise ItemValidationError(attr.name, "key-size",
                                          f"key value is {key_len} bytes; the limit is {limit}")
    return size
