"""Format 2: items -> typed columns + residual -> the same canonical texts, byte for byte."""

from __future__ import annotations

import hashlib
import io
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import rowtext
from schemas.codec import encode_items
from schemas.dynamo_json import canonical_bytes
from schemas.errors import CorruptDataError
from schemas.keys import KeyAttribute, KeySchema
from schemas.rowcodec import (
    RowPartBuilder,
    damaged_rows,
    decode_items,
    decode_texts,
    hash_of,
    part_schema,
)
from schemas.table_schema import REST, empty_schema
from tests.schemas.corpus import EDGE_ITEMS, NUMBERS, b64
from tests.schemas.format2help import (
    KEYS,
    canonical,
    copied,
    encode,
    parquet_bytes,
    schema_for,
)
from tests.schemas.strategies import items


def roundtrip(batch: list[dict[str, Any]], schema: Any) -> tuple[list[str], Any]:
    part = encode(batch, schema)
    table = pq.read_table(io.BytesIO(parquet_bytes(part.table)))
    return sorted(decode_texts(table, part_schema(table.schema.metadata))), part


def test_edge_corpus_roundtrips_exactly_and_every_row_proves() -> None:
    schema = schema_for(EDGE_ITEMS)
    texts, part = roundtrip(EDGE_ITEMS, schema)
    assert texts == canonical(EDGE_ITEMS)
    assert part.whole_rows == 0, "a valid item failed its proof: the decoder differs"
    typed = {c.name: c.kind for c in schema.columns}
    assert typed["price"] == "json"  # S in one item, N in another
    assert typed["ss"] == "SS" and typed["bs"] == "BS" and typed["raw"] == "B"
    assert ("Name" in typed) != ("name" in typed)  # one of a case-colliding pair


def test_edge_corpus_against_schema_zero_is_all_residual() -> None:
    schema = empty_schema("t", KEYS)
    texts, part = roundtrip(EDGE_ITEMS, schema)
    assert texts == canonical(EDGE_ITEMS)
    assert part.whole_rows == 0
    assert part.stats.rows["n"] == len(NUMBERS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(items(), min_size=1, max_size=6, unique_by=lambda i: i["pk"]["S"]))
def test_hypothesis_items_roundtrip_exactly(batch: list[dict[str, Any]]) -> None:
    for schema in (schema_for(batch), schema_for(batch[:1]), empty_schema("t", KEYS)):
        texts, part = roundtrip(batch, schema)
        assert texts == canonical(batch)
        assert part.whole_rows == 0


@pytest.mark.parametrize("scale", [0, 2, 6, 18])
def test_numbers_at_dynamodb_limits_are_held_or_kept_exact(scale: int) -> None:
    batch = [{"pk": {"S": f"n{i}"}, "n": {"N": n}} for i, n in enumerate(NUMBERS)]
    batch += [{"pk": {"S": "ns"}, "n": {"N": "1"}, "ns": {"NS": ["1E+125", "1"]}},
              {"pk": {"S": "ns2"}, "n": {"N": "2"}, "ns": {"NS": ["0.5", "-3"]}}]
    schema = schema_for(batch[:1] + batch[-1:], scale=scale)
    texts, part = roundtrip(batch, schema)
    assert texts == canonical(batch)
    assert part.whole_rows == 0
    cells = dict(zip(part.table.column("_pk").to_pylist(),
                     part.table.column("n").to_pylist(), strict=True))
    held = {n for i, n in enumerate(NUMBERS) if cells[f"n{i}"] is not None}
    expected = {"0", "9007199254740993", "9223372036854775808"}
    if scale == 0:
        expected.add("12345678901234567890123456789012345678")
    assert held == expected  # never exponents, -0, padding, or more digits than the scale
    for n in held:
        assert cells[f"n{NUMBERS.index(n)}"] == Decimal(n)
    ns = dict(zip(part.table.column("_pk").to_pylist(),
                  part.table.column("ns").to_pylist(), strict=True))
    assert ns["ns"] is None  # a member is not held: the whole set stays in _rest
    assert (ns["ns2"] is not None) == (scale > 0)


def test_price_scales_across_parts_read_back_exact_in_one_type() -> None:
    parts = [[{"pk": {"S": f"a{i}"}, "price": {"N": "3.25"}} for i in range(7)],
             [{"pk": {"S": f"b{i}"}, "price": {"N": "19.99"}} for i in range(3)],
             [{"pk": {"S": f"c{i}"}, "price": {"N": "20"}} for i in range(4)]]
    schema = schema_for(parts[2])  # created by the part that saw only integers
    tables = [encode(p, schema).table for p in parts]
    assert len({t.schema.field("price").type for t in tables}) == 1
    values = [v for t in tables for v in t.column("price").to_pylist()]
    assert sorted(set(values)) == [Decimal("3.25"), Decimal("19.99"), Decimal("20")]


def test_wrong_json_types_and_untagged_values_are_kept_exact() -> None:
    batch = [{"pk": {"S": "a"}, "s": {"S": "x"}, "b": {"BOOL": True}},
             {"pk": {"S": "b"}, "s": {"S": 5}, "b": {"BOOL": 1}},
             {"pk": {"S": "c"}, "s": {}, "b": {"BOOL": False, "S": "y"}},
             {"pk": {"S": "d"}, "s": {"X": "1"}, "e": {}}]
    schema = schema_for(batch[:1])
    texts, part = roundtrip(batch, schema)
    assert texts == canonical(batch)
    assert part.table.column("s").to_pylist().count(None) == 3


def test_a_row_that_fails_its_proof_is_stored_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [{"pk": {"S": f"k{i}"}, "price": {"N": f"{i}.5"}, "s": {"S": "v"}}
             for i in range(5)] + [{"pk": {"S": "plain"}, "s": {"S": "v"}}]
    schema = schema_for(batch)
    wrong = rowtext.number_texts

    def off_by_one(numbers: pa.Array) -> pa.Array:
        return pc.replace_substring(wrong(numbers), ".5", ".6")

    monkeypatch.setattr(rowtext, "number_texts", off_by_one)
    part = encode(batch, schema)
    assert part.whole_rows == 5
    assert part.table.column("price").null_count == 6
    assert part.table.column(REST).null_count == 1
    monkeypatch.setattr(rowtext, "number_texts", wrong)
    assert sorted(decode_texts(part.table, schema)) == canonical(batch)


def test_hash_column_and_digest_keep_their_meaning_across_formats() -> None:
    batch = EDGE_ITEMS[:12]
    part = encode(batch, schema_for(batch))
    texts = decode_texts(part.table, schema_for(batch))
    hashes = part.table.column("_item_hash").to_pylist()
    assert hashes == [int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "big", signed=True)
                      for t in texts]
    assert hashes == [hash_of(t.encode()) for t in texts]
    format1 = encode_items(copied(batch), KEYS)
    assert part.digest.hex() == format1.digest.hex()
    assert part.item_bytes == format1.item_bytes


def test_number_and_binary_keys_sort_and_roundtrip() -> None:
    keys = KeySchema(KeyAttribute("id", "N"), KeyAttribute("bin", "B"))
    batch = [{"id": {"N": n}, "bin": {"B": b64(raw)}, "v": {"S": n}}
             for n in ("10", "9", "-1.5", "1E+2", "99999999999999999999999999999999999999")
             for raw in (b"\x00", b"\xff", b"")]
    schema = schema_for(batch, keys)
    texts, part = roundtrip(batch, schema)
    assert texts == canonical(batch)
    ids = part.table.column("_pk").to_pylist()
    order = ["-1.5", "9", "10", "1E+2", "99999999999999999999999999999999999999"]
    assert ids == [n for n in order for _ in range(3)]
    assert part.table.column("_sk").to_pylist()[:3] == [b"", b"\x00", b"\xff"]
    assert part.min_key == {"id": {"N": "-1.5"}, "bin": {"B": ""}}


def test_damaged_rows_are_named() -> None:
    batch = [{"pk": {"S": f"k{i}"}, "price": {"N": f"{i}.25"}} for i in range(4)]
    schema = schema_for(batch)
    table = encode(batch, schema).table
    assert damaged_rows(table, schema) == []
    prices = table.column("price").to_pylist()
    prices[2] = prices[2] + 1
    index = table.schema.get_field_index("price")
    damaged = table.set_column(index, table.schema.field(index),
                               pa.array(prices, table.schema.field(index).type))
    assert damaged_rows(damaged, schema) == [2]


def test_overlapping_residual_is_refused_not_misread() -> None:
    batch = [{"pk": {"S": "a"}, "s": {"S": "x"}}]
    schema = schema_for(batch)
    table = encode(batch, schema).table
    forged = table.set_column(1, table.schema.field(1), pa.array(['{"s":{"S":"y"}}']))
    with pytest.raises(CorruptDataError):
        decode_texts(forged, schema)


def test_decode_items_gives_wire_items() -> None:
    batch = [{"pk": {"S": "a"}, "b": {"B": b64(b"\x00\x01")}, "ns": {"NS": ["2", "1"]}}]
    schema = schema_for(batch)
    (item,) = decode_items(encode(batch, schema).table, schema)
    assert item == {"pk": {"S": "a"}, "b": {"B": "AAE="}, "ns": {"NS": ["1", "2"]}}
    assert canonical_bytes(item) == orjson.dumps(item, option=orjson.OPT_SORT_KEYS)


def test_retarget_places_items_against_the_new_schema() -> None:
    batch = [{"pk": {"S": f"k{i}"}, "a": {"S": "x"}, "m": {"M": {"z": {"SS": ["b", "a"]}}}}
             for i in range(3)]
    base = empty_schema("t", KEYS)
    builder = RowPartBuilder(base)
    builder.add_all(copied(batch))
    schema = schema_for(batch)
    builder.retarget(schema)
    part = builder.build()
    assert part.table.column(REST).null_count == 3
    assert part.table.column("m").to_pylist()[0] == '{"M":{"z":{"SS":["a","b"]}}}'
    assert sorted(decode_texts(part.table, schema)) == canonical(batch)
