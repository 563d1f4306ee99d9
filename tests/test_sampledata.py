"""The sample items as DynamoDB returns them: what the benchmarks measure by default."""

from __future__ import annotations

import copy

from ddblake.sampledata import as_dynamodb_returns, orders
from schemas.dynamo_json import Item, canonicalize, items_equal, normalize_number
from schemas.keys import KeyAttribute, KeySchema
from schemas.rowcodec import RowPartBuilder, decode_items
from schemas.table_schema import empty_schema, evolve

KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))


def _numbers(value: object) -> list[str]:
    if isinstance(value, dict):
        return [n for tag, inner in value.items()
                for n in ([inner] if tag == "N" else inner if tag == "NS" else
                          _numbers(inner))]
    if isinstance(value, list):
        return [n for child in value for n in _numbers(child)]
    return []


def test_every_number_is_in_dynamodbs_form_and_the_items_keep_their_values() -> None:
    generated = list(orders(500))
    returned = [as_dynamodb_returns(copy.deepcopy(item)) for item in generated]
    numbers = [n for item in returned for av in item.values() for n in _numbers(av)]
    assert numbers and all(n == normalize_number(n) for n in numbers)
    assert all(items_equal(a, b) for a, b in zip(generated, returned, strict=True))
    trailing = [n for item in generated for av in item.values() for n in _numbers(av)
                if n != normalize_number(n)]
    assert trailing  # the generator does write texts DynamoDB would not return


def test_format_2_holds_every_number_dynamodb_returns_in_its_decimal_cell() -> None:
    """Texts with trailing zeros must stay exact in _rest; DynamoDB's never need to."""
    def encoded(items: list[Item]) -> tuple[dict[str, int], list[object]]:
        base = empty_schema("orders", KEYS)
        first = RowPartBuilder(base)
        first.add_all(copy.deepcopy(items))
        schema = evolve(base, first.stats()) or base
        builder = RowPartBuilder(schema)
        builder.add_all(copy.deepcopy(items))
        part = builder.build()
        expected = [canonicalize(copy.deepcopy(item)) for item in items]
        assert decode_items(part.table, schema) == sorted(
            expected, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
        return part.held_out, part.table.column("_rest").to_pylist()

    generated = list(orders(2000))
    held, _ = encoded(generated)
    assert held.get("discount") and held.get("price")
    held, rest = encoded([as_dynamodb_returns(item) for item in generated])
    assert held == {} and rest == [None] * 2000

