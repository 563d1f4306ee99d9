"""Item -> Parquet file -> item, exactly; and what DuckDB sees in the written files."""

from __future__ import annotations

import copy
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from schemas.codec import decode_items, encode_items
from schemas.dynamo_json import canonical_bytes, items_equal, value_key
from schemas.keys import KeyAttribute, KeySchema
from tests.schemas.corpus import EDGE_ITEMS
from tests.schemas.strategies import items

KEYS = KeySchema(KeyAttribute("pk", "S"))


def parquet_roundtrip(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    part = encode_items(copy.deepcopy(batch), KEYS)
    buffer = io.BytesIO()
    pq.write_table(part.table, buffer, compression="zstd")
    buffer.seek(0)
    return list(decode_items(pq.read_table(buffer)))


def by_key(batch: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["pk"]["S"]: i for i in batch}


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
def test_hypothesis_roundtrip_is_exact(original: dict[str, Any]) -> None:
    (restored,) = parquet_roundtrip([original])
    assert items_equal(original, restored)
    # Exact text too: N strings verbatim, only set order canonicalized.
    assert canonical_bytes(restored) == canonical_bytes(copy.deepcopy(original))


def test_edge_corpus_roundtrips_exactly() -> None:
    back = by_key(parquet_roundtrip(EDGE_ITEMS))
    assert len(back) == len(EDGE_ITEMS)
    for original in EDGE_ITEMS:
        restored = back[original["pk"]["S"]]
        assert value_key(restored) == value_key(original)
        for name, av in original.items():
            if "N" in av:
                assert restored[name]["N"] == av["N"], "number text must be kept verbatim"


def test_part_is_sorted_by_key_and_records_min_max() -> None:
    batch = [{"pk": {"S": s}} for s in ["b", "¿", "z", "a"]]
    part = encode_items(batch, KEYS)
    assert part.table.column("_pk").to_pylist() == ["a", "b", "z", "¿"]  # UTF-8 byte order
    assert part.min_key == {"pk": {"S": "a"}} and part.max_key == {"pk": {"S": "¿"}}


def test_number_keys_sort_by_value() -> None:
    keys = KeySchema(KeyAttribute("id", "N"))
    part = encode_items([{"id": {"N": n}} for n in ["10", "9", "-1.5", "1E+2"]], keys)
    assert part.table.column("_pk").to_pylist() == ["-1.5", "9", "10", "1E+2"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "part.parquet"
    pq.write_table(encode_items(copy.deepcopy(EDGE_ITEMS), KEYS).table, path, compression="zstd")
    return path


def test_duckdb_reads_the_spine_and_natural_types(corpus_file: Path) -> None:
    con = duckdb.connect()
    types = dict(con.execute(f"DESCRIBE SELECT * FROM '{corpus_file}'").fetchall()[i][:2]
                 for i in range(len(con.execute(f"DESCRIBE SELECT * FROM '{corpus_file}'")
                                    .fetchall())))
    assert types["_item"] == "JSON"
    assert types["_item_sha256"] == "VARCHAR"
    assert types["pk"] == "VARCHAR" and types["flag"] == "BOOLEAN" and types["raw"] == "BLOB"
    assert types["bs"] == "BLOB[]"
    # price is N in one item and S in another: spine only. Name/name collide: spine only.
    assert "price" not in types and "Name" not in types and "name" not in types
    mismatched = con.execute(
        f"SELECT count(*) FROM '{corpus_file}' WHERE sha256(_item::VARCHAR) <> _item_sha256"
    ).fetchone()
    assert mismatched == (0,)
    raw = con.execute(f"SELECT raw FROM '{corpus_file}' WHERE pk = 'bin'").fetchone()
    assert raw == (bytes(range(256)),)
    dot = con.execute(f"""SELECT _item->>'$."a.b".S' FROM '{corpus_file}' WHERE pk='names'""")
    assert dot.fetchone() == ("dot",)


def test_sha256_column_is_hash_of_item_text(corpus_file: Path) -> None:
    table = pq.read_table(corpus_file)
    for text, sha in zip(table.column("_item").to_pylist(), table.column("_item_sha256")
                         .to_pylist(), strict=True):
        assert hashlib.sha256(text.encode("utf-8")).hexdigest() == sha


def test_canonical_text_matches_stdlib_json_rules() -> None:
    """The canonical text is what json.dumps(sort_keys, ensure_ascii=False, compact) gives."""
    for item in EDGE_ITEMS:
        ours = canonical_bytes(copy.deepcopy(item))
        theirs = json.dumps(orjson.loads(ours), sort_keys=True, ensure_ascii=False,
                            separators=(",", ":")).encode("utf-8")
        assert ours == theirs
