"""The fixed edge-case corpus (reliability.md §7 C1) and the values DynamoDB rejects (C3).

Items are in wire form (B/BS as base64 text)."""

from __future__ import annotations

import base64
from typing import Any


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def nest(depth: int) -> dict[str, Any]:
    """``depth`` map wraps around a scalar."""
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"k": value}}
    return value


NUMBERS = [
    "9.9999999999999999999999999999999999999E+125", "-9.9999999999999999999999999999999999999E+125",
    "1E-130", "-1E-130", "12345678901234567890123456789012345678",
    "3.1415926535897932384626433832795028841", "1234567895171680000000000000000000000000",
    "9007199254740993", "9223372036854775808", "0.00000000000000000000000000000000000001",
    "0", "-0", "1.0", "1.50", "00042", "+5", "1E+2",
]

EDGE_ITEMS: list[dict[str, Any]] = [
    *({"pk": {"S": f"num-{i:02d}"}, "n": {"N": n}} for i, n in enumerate(NUMBERS)),
    {"pk": {"S": "empty"}, "es": {"S": ""}, "eb": {"B": ""}, "el": {"L": []}, "em": {"M": {}},
     "nul": {"NULL": True}},
    {"pk": {"S": "sets"}, "ss": {"SS": ["b", "a", "é", "", "z", "¿"]},
     "ns": {"NS": ["10", "9", "-1.5", "1E+2"]},
     "bs": {"BS": [b64(b"\x01"), b64(b"\x00"), b64(b""), b64(b"\xff\x00")]}},
    {"pk": {"S": "bin"}, "raw": {"B": b64(bytes(range(256)))}},
    {"pk": {"S": "names"}, "a.b": {"S": "dot"}, "a b": {"S": "space"}, "ü名😀": {"S": "uni"},
     "#x:y": {"S": "special"}, "Name": {"S": "U"}, "name": {"S": "l"}, "n" * 255: {"S": "255"}},
    {"pk": {"S": "deep"}, "deep": nest(31)},
    {"pk": {"S": "mixed-1"}, "price": {"S": "n/a"}},
    {"pk": {"S": "mixed-2"}, "price": {"N": "19.99"}},
    {"pk": {"S": "strings"}, "s": {"S": "a\x00b\u2028\U0001f600\n\t\"\\"}, "flag": {"BOOL": False},
     "t": {"BOOL": True}},
    {"pk": {"S": "nested-sets"}, "m": {"M": {"z": {"SS": ["y", "x"]},
                                             "a": {"L": [{"NS": ["2", "1"]}, {"NULL": True}]}}}},
    {"pk": {"S": "big"}, "blob": {"B": b64(b"\xab" * 300_000)}},
    {"pk": {"S": "k" * 2048}, "note": {"S": "2048-byte partition key"}},
]

# (item, rule) pairs the validator must refuse; moto accepts most of them (reliability.md §1).
REJECTED: list[tuple[dict[str, Any], str]] = [
    ({"pk": {"S": "a"}, "n": {"N": "3.14159265358979323846264338327950288419"}},
     "number-precision"),
    ({"pk": {"S": "a"}, "n": {"N": "1E+126"}}, "number-range"),
    ({"pk": {"S": "a"}, "n": {"N": "1E-131"}}, "number-range"),
    ({"pk": {"S": "a"}, "n": {"N": "1_000"}}, "number-grammar"),
    ({"pk": {"S": "a"}, "n": {"N": "NaN"}}, "number-grammar"),
    ({"pk": {"S": "a"}, "n": {"N": "Infinity"}}, "number-grammar"),
    ({"pk": {"S": "a"}, "n": {"N": " 1"}}, "number-grammar"),
    ({"pk": {"S": "a"}, "n": {"N": 123}}, "number-text"),
    ({"pk": {"S": "a"}, "d": nest(32)}, "nesting"),
    ({"pk": {"S": "a"}, "s": {"SS": ["a", "a"]}}, "set-duplicates"),
    ({"pk": {"S": "a"}, "s": {"NS": ["1", "1.0"]}}, "set-duplicates"),
    ({"pk": {"S": "a"}, "s": {"BS": []}}, "set-empty"),
    ({"pk": {"S": "a"}, "s": {"SS": []}}, "set-empty"),
    ({"pk": {"S": "a"}, "v": {"S": "x", "N": "1"}}, "one-type"),
    ({"pk": {"S": "a"}, "": {"S": "x"}}, "attribute-name"),
    ({"pk": {"S": "a"}, "x" * 65_536: {"S": "x"}}, "attribute-name"),
    ({"pk": {"S": "a"}, "n": {"NULL": False}}, "null"),
    ({"pk": {"S": "a"}, "b": {"B": "not base64!"}}, "binary-base64"),
    ({"pk": {"S": "a"}, "big": {"S": "x" * 409_600}}, "item-size"),
    ({"pk": {"S": "k" * 2049}}, "key-size"),
    ({"pk": {"S": "€" * 683}}, "key-size"),
    ({"pk": {"S": ""}}, "key-empty"),
    ({"pk": {"N": "1"}}, "key-type"),
    ({"other": {"S": "x"}}, "key-missing"),
    ({"pk": {"S": "a"}, "v": {"X": "1"}}, "type"),
]
