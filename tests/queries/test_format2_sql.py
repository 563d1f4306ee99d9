"""The SQL that rebuilds ``_item`` from format 2 columns gives the item back (differential
against the canonical text), and the hash SQL matches the codec's."""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

import duckdb
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queries.format2sql import hash_from_hex, snapshot_columns
from queries.sqltext import list_literal
from schemas.dynamo_json import canonical_bytes
from schemas.rowcodec import hash_of
from tests.schemas.corpus import EDGE_ITEMS
from tests.schemas.format2help import canonical, copied, parquet_bytes, schema_for
from tests.schemas.strategies import items

# Control characters DuckDB escapes with upper-case hex digits (orjson: lower case).
_ODD = re.compile(r"\\u00(0[BEF]|1[A-F])")


def sql_items(tmp: Path, batch: list[dict[str, Any]], schema: Any) -> list[tuple[str, int]]:
    from schemas.rowcodec import RowPartBuilder

    builder = RowPartBuilder(schema)
    builder.add_all(copied(batch))
    # A new name each call: DuckDB's external file cache (on by default) may serve an
    # earlier example's bytes for a file rewritten at the same path within its mtime.
    path = tmp / f"part-{uuid.uuid4().hex}.parquet"
    path.write_bytes(parquet_bytes(builder.build().table))
    columns = ", ".join(snapshot_columns(schema))
    sql = f"SELECT CAST(_item AS VARCHAR), _item_hash FROM (SELECT {columns} FROM " \
          f"read_parquet({list_literal([str(path)])}))"
    return [(str(t), int(h)) for t, h in duckdb.sql(sql).fetchall()]


def check(tmp: Path, batch: list[dict[str, Any]], schema: Any) -> None:
    rows = sql_items(tmp, batch, schema)
    expected = canonical(batch)
    assert len(rows) == len(expected)
    got = []
    for text, recorded in rows:
        if _ODD.search(text):  # same value, another escape: compare the canonical text
            text = canonical_bytes(orjson.loads(text)).decode("utf-8")
        assert hash_of(text.encode("utf-8")) == recorded
        got.append(text)
    assert sorted(got) == expected


def test_the_edge_corpus_comes_back_from_sql(tmp_path: Path) -> None:
    check(tmp_path, EDGE_ITEMS, schema_for(EDGE_ITEMS))
    check(tmp_path, EDGE_ITEMS, schema_for(EDGE_ITEMS[:3]))  # mostly _rest


@settings(max_examples=100, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(items(), min_size=1, max_size=5, unique_by=lambda i: i["pk"]["S"]))
def test_hypothesis_items_come_back_from_sql(tmp_path: Path, batch: list[dict[str, Any]]
                                             ) -> None:
    check(tmp_path, batch, schema_for(batch))
    check(tmp_path, batch, schema_for(batch[:1]))


def test_hash_from_hex_is_the_codecs_hash() -> None:
    for text in (b"", b"a", b'{"pk":{"S":"x"}}', bytes(range(1, 40))):
        sha = hashlib.sha256(text).hexdigest()
        [(value,)] = duckdb.sql(f"SELECT {hash_from_hex(repr(sha))}").fetchall()
        assert value == hash_of(text)
