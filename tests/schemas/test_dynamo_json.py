from __future__ import annotations

import copy

import pytest

from schemas.dynamo_json import (
    Digest,
    canonical_bytes,
    from_client,
    items_equal,
    normalize_number,
    to_client,
    value_digest_bytes,
)


@pytest.mark.parametrize(("text", "normal"), [
    ("00042", "42"), ("1.0", "1"), ("-0", "0"), ("1.5E2", "150"), ("+5", "5"), ("1e+2", "100"),
    ("1.50", "1.5"), ("1E-130", "0." + "0" * 129 + "1"),
    ("1.00000000000000007629769841092E+50", "100000000000000007629769841092" + "0" * 21),
])
def test_normalize_number_matches_dynamodb(text: str, normal: str) -> None:
    assert normalize_number(text) == normal


def test_sets_are_canonically_ordered() -> None:
    item = {"ss": {"SS": ["b", "¿", "a", ""]}, "ns": {"NS": ["10", "9", "-1.5"]},
            "bs": {"BS": ["/w==", "AA==", "AQ=="]}}
    text = canonical_bytes(item).decode()
    assert text == ('{"bs":{"BS":["AA==","AQ==","/w=="]},"ns":{"NS":["-1.5","9","10"]},'
                    '"ss":{"SS":["","a","b","¿"]}}')


def test_client_and_wire_forms_convert_both_ways() -> None:
    client = {"b": {"B": b"\x00\xff"}, "bs": {"BS": [b"", b"\x01"]},
              "m": {"M": {"x": {"L": [{"B": b"z"}]}}}, "n": {"N": "1.0"}}
    wire = from_client(client)
    assert wire["b"] == {"B": "AP8="} and wire["m"]["M"]["x"]["L"][0] == {"B": "eg=="}
    assert to_client(wire) == client


def test_equality_is_by_dynamodb_value() -> None:
    a = {"n": {"N": "1.0"}, "s": {"NS": ["1", "2.50"]}, "m": {"M": {"x": {"SS": ["a", "b"]}}}}
    b = {"n": {"N": "1"}, "s": {"NS": ["2.5", "1"]}, "m": {"M": {"x": {"SS": ["b", "a"]}}}}
    assert items_equal(a, b)
    assert value_digest_bytes(copy.deepcopy(a)) == value_digest_bytes(copy.deepcopy(b))
    assert not items_equal(a, {**b, "n": {"N": "1.01"}})
    assert not items_equal({"x": {"L": [{"S": "a"}, {"S": "b"}]}},
                           {"x": {"L": [{"S": "b"}, {"S": "a"}]}})  # lists keep order
    assert not items_equal({"x": {"S": "1"}}, {"x": {"N": "1"}})


def test_digest_is_order_independent_and_combinable() -> None:
    rows = [b"a", b"b", b"c"]
    forward, backward, left, right = Digest(), Digest(), Digest(), Digest()
    for r in rows:
        forward.add_bytes(r)
    for r in reversed(rows):
        backward.add_bytes(r)
    left.add_bytes(b"a")
    right.add_bytes(b"b")
    right.add_bytes(b"c")
    assert forward.hex() == backward.hex() == left.combine(right).hex()
    missing = Digest()
    missing.add_bytes(b"a")
    assert missing.hex() != forward.hex()
