"""DynamoDB JSON in its three shapes, and the canonical text of an item.

* **client form**: what boto3's low-level client returns and accepts (``B``/``BS`` as ``bytes``).
* **wire form**: DynamoDB JSON as it travels over HTTP (``B``/``BS`` as base64 text).
* **canonical text**: the wire form with every set in canonical order, serialized with map
  keys sorted. It is what the lake stores in ``_item`` and hashes into ``_item_sha256``.

The canonical form, version 1:

- numbers (``N``, ``NS`` members) keep the exact text DynamoDB returned; never parsed to float;
- ``B`` and ``BS`` members are standard base64 with padding;
- ``SS`` is sorted by UTF-8 bytes (DynamoDB's own string order), ``NS`` by numeric value
  (ties, which DynamoDB forbids, by text), ``BS`` by unsigned bytes;
- JSON text is UTF-8 with no insignificant whitespace, object keys sorted by code point
  (the same order as UTF-8 bytes), non-ASCII characters written as themselves and only the
  characters JSON requires escaped (``"``, ``\\`` and control characters).

Items are never read through boto3's ``TypeDeserializer``: it raises on numbers DynamoDB
accepts (boto/boto3#2500) and turns sets into unordered Python sets.
"""

from __future__ import annotations

import base64
import hashlib
from decimal import Context, Decimal
from typing import Any

import orjson

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

CANONICAL_VERSION = 1
# Wide enough that every DynamoDB number (38 digits, exponent -130..+125) is exact.
WIDE = Context(prec=200, Emax=999_999, Emin=-999_999)

_DUMP_OPTIONS = orjson.OPT_SORT_KEYS


def number_value(text: str) -> Decimal:
    """The exact value of an ``N`` string (``Decimal`` construction from text never rounds)."""
    return Decimal(text)


def normalize_number(text: str) -> str:
    """DynamoDB's canonical rendering of a number: plain digits, no exponent, no padding.

    ``"1.50"`` -> ``"1.5"``, ``"1E+2"`` -> ``"100"``, ``"-0"`` -> ``"0"``. Used to compare numbers
    by value (moto keeps ``"1.0"`` verbatim while DynamoDB returns ``"1"``).
    """
    value = Decimal(text)
    if not value:
        return "0"
    return format(value.normalize(WIDE), "f")


def sort_set(tag: str, members: list[Any]) -> list[Any]:
    """A set's members in canonical order (wire form). Python orders str by code point,
    which is the same order as their UTF-8 bytes."""
    if tag == "SS":
        return sorted(members)
    if tag == "NS":
        return sorted(members, key=lambda s: (Decimal(s), s))
    return sorted(members, key=base64.b64decode)  # BS, wire form: order by raw bytes


def canonicalize_value(av: AttributeValue) -> AttributeValue:
    """Put every set inside ``av`` in canonical order, in place; return ``av``."""
    for tag, inner in av.items():
        if tag == "M":
            for child in inner.values():
                canonicalize_value(child)
        elif tag == "L":
            for child in inner:
                canonicalize_value(child)
        elif tag in ("SS", "NS", "BS"):
            av[tag] = sort_set(tag, inner)
    return av


def canonicalize(item: Item) -> Item:
    """Put every set in ``item`` (wire form) in canonical order, in place; return ``item``."""
    for av in item.values():
        canonicalize_value(av)
    return item


def canonical_bytes(item: Item) -> bytes:
    """The canonical text of a wire-form item (sets are sorted, in place)."""
    return orjson.dumps(canonicalize(item), option=_DUMP_OPTIONS)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_item(text: bytes | str) -> Item:
    """Canonical (or any wire-form) DynamoDB JSON text -> wire-form item."""
    item = orjson.loads(text)
    if not isinstance(item, dict):
        raise ValueError("a DynamoDB item must be a JSON object")
    return item


def _value_to_wire(av: AttributeValue) -> AttributeValue:
    tag, inner = next(iter(av.items()))
    if tag == "B":
        return {"B": base64.b64encode(inner).decode("ascii")}
    if tag == "BS":
        return {"BS": [base64.b64encode(b).decode("ascii") for b in inner]}
    if tag == "M":
        return {"M": {k: _value_to_wire(v) for k, v in inner.items()}}
    if tag == "L":
        return {"L": [_value_to_wire(v) for v in inner]}
    if tag in ("SS", "NS"):
        return {tag: list(inner)}
    return {tag: inner}


def _value_to_client(av: AttributeValue) -> AttributeValue:
    tag, inner = next(iter(av.items()))
    if tag == "B":
        return {"B": base64.b64decode(inner)}
    if tag == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if tag == "M":
        return {"M": {k: _value_to_client(v) for k, v in inner.items()}}
    if tag == "L":
        return {"L": [_value_to_client(v) for v in inner]}
    return av


def from_client(item: Item) -> Item:
    """Client form (bytes) -> a new wire-form item (base64)."""
    return {name: _value_to_wire(av) for name, av in item.items()}


def to_client(item: Item) -> Item:
    """Wire form (base64) -> client form (bytes), sharing unchanged sub-values."""
    return {name: _value_to_client(av) for name, av in item.items()}


def _value_key(av: AttributeValue) -> Any:
    tag, inner = next(iter(av.items()))
    if tag == "N":
        return ("N", normalize_number(inner))
    if tag == "NS":
        return ("NS", frozenset(normalize_number(n) for n in inner))
    if tag in ("SS", "BS"):
        return (tag, frozenset(inner))
    if tag == "M":
        return ("M", frozenset((k, _value_key(v)) for k, v in inner.items()))
    if tag == "L":
        return ("L", tuple(_value_key(v) for v in inner))
    return (tag, inner)


def value_key(item: Item) -> Any:
    """A hashable key equal for two wire-form items exactly when DynamoDB holds them equal:
    numbers by value, sets unordered, maps unordered, lists ordered."""
    return frozenset((name, _value_key(av)) for name, av in item.items())


def items_equal(a: Item, b: Item) -> bool:
    """Equality under DynamoDB semantics, for wire-form items."""
    return bool(value_key(a) == value_key(b))


def _normalized_value(av: AttributeValue) -> AttributeValue:
    tag, inner = next(iter(av.items()))
    if tag == "N":
        return {"N": normalize_number(inner)}
    if tag == "NS":
        return {"NS": sorted({normalize_number(n) for n in inner}, key=Decimal)}
    if tag == "M":
        return {"M": {k: _normalized_value(v) for k, v in inner.items()}}
    if tag == "L":
        return {"L": [_normalized_value(v) for v in inner]}
    if tag in ("SS", "BS"):
        return canonicalize_value({tag: list(inner)})
    return {tag: inner}


def value_digest_bytes(item: Item) -> bytes:
    """Canonical text with every number normalized: the same bytes for items that DynamoDB
    holds equal. Hash these to compare a source with a restored table."""
    return orjson.dumps({k: _normalized_value(v) for k, v in item.items()}, option=_DUMP_OPTIONS)


class Digest:
    """An order-independent digest of a multiset of rows: the sum of their sha256 values
    modulo 2**256. Parts and segments can be digested separately and combined."""

    MOD = 1 << 256

    def __init__(self, value: int = 0, count: int = 0) -> None:
        self.value = value
        self.count = count

    def add_hex(self, sha_hex: str) -> None:
        self.value = (self.value + int(sha_hex, 16)) % self.MOD
        self.count += 1

    def add_bytes(self, data: bytes) -> None:
        self.add_hex(hashlib.sha256(data).hexdigest())

    def combine(self, other: Digest) -> Digest:
        return Digest((self.value + other.value) % self.MOD, self.count + other.count)

    def hex(self) -> str:
        return f"{self.value:064x}"

    @classmethod
    def from_hex(cls, text: str, count: int = 0) -> Digest:
        return cls(int(text, 16), count)
