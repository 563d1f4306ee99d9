"""PartBuilder decides columns from cached item shapes; these inputs must not fool it."""

from __future__ import annotations

import copy
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import EncodedPart, PartBuilder, encode_items
from schemas.keys import KeyAttribute, KeySchema
from tests.schemas.strategies import items

KEYS = KeySchema(KeyAttribute("pk", "S"))


def decisions(items: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    part = encode_items(items, KEYS)
    return {d.name: (d.dynamo_type, d.type) for d in part.columns}


def test_types_are_those_the_values_take_past_the_shape_cache() -> None:
    # 1500 distinct shapes (more than the cache holds), "x" is S in the first and N in the last.
    items = [{"pk": {"S": f"p{i:04d}"}, f"a{i}": {"BOOL": True}} for i in range(1500)]
    items[0]["x"] = {"S": "first"}
    items[-1]["x"] = {"N": "1"}
    items[700]["y"] = {"N": "2.5"}
    got = decisions(items)
    assert got["x"] == ("S/N", None)
    assert got["y"] == ("N", "decimal128(38, 1)")
    assert got["a1499"] == ("BOOL", "bool")


def test_null_tag_values_count_as_absent() -> None:
    # Not DynamoDB JSON, but encode_items reads such input as the Arrow JSON reader sees it.
    items = [{"pk": {"S": "a"}, "x": {"S": None}}, {"pk": {"S": "b"}, "x": {"N": "7"}}]
    part = encode_items(items, KEYS)
    assert decisions(items)["x"] == ("N", "int64")
    assert part.table.column("x").to_pylist() == [None, 7]
    assert part.table.column("x").type == pa.int64()


def test_an_untagged_value_does_not_shift_tags_to_other_attributes() -> None:
    # As many tags as attributes, but "x" has none and "y" two.
    items = [{"pk": {"S": "a"}, "x": {}, "y": {"S": "q", "N": "1"}},
             {"pk": {"S": "b"}, "x": {"S": "p"}, "y": {"N": "2"}}]
    got = decisions(items)
    assert got["x"] == ("S", "string")
    assert got["y"] == ("S/N", None)


def build(items: list[dict[str, Any]], *, exact: bool) -> EncodedPart:
    builder = PartBuilder(KEYS)
    builder.add_all(copy.deepcopy(items))
    builder._exact = builder._exact or exact  # the JSON-reader path, as the reference
    return builder.build()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(items(), min_size=1, max_size=12))
def test_collected_columns_equal_the_json_readers(batch: list[dict[str, Any]]) -> None:
    for i, item in enumerate(batch):  # distinct keys; otherwise as generated
        item["pk"] = {"S": f"k{i:03d}"}
    fast, exact = build(batch, exact=False), build(batch, exact=True)
    assert fast.columns == exact.columns
    assert fast.table.equals(exact.table)
    assert (fast.min_key, fast.max_key, fast.digest.hex()) == (exact.min_key, exact.max_key,
                                                               exact.digest.hex())


def test_attributes_absent_from_some_items_are_null_there() -> None:
    batch = [{"pk": {"S": f"k{i}"}, **({"n": {"N": str(i)}} if i % 3 else {})}
             for i in range(10)]
    part = build(batch, exact=False)
    assert part.table.column("n").to_pylist() == [None if i % 3 == 0 else i for i in range(10)]
    assert part.table.equals(build(batch, exact=True).table)
