"""Helpers for the format 2 codec tests: encode items against a schema, write real Parquet."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.dynamo_json import canonical_bytes
from schemas.keys import KeyAttribute, KeySchema
from schemas.rowcodec import EncodedRows, RowPartBuilder
from schemas.table_schema import TableSchema, empty_schema, evolve

KEYS = KeySchema(KeyAttribute("pk", "S"))


def copied(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [orjson.loads(orjson.dumps(i)) for i in items]


def canonical(items: list[dict[str, Any]]) -> list[str]:
    """The canonical texts of ``items`` (copies are canonicalized), sorted."""
    return sorted(canonical_bytes(i).decode("utf-8") for i in copied(items))


def schema_for(items: list[dict[str, Any]], keys: KeySchema = KEYS,
               scale: int = 6) -> TableSchema:
    """Schema 1 created from the statistics of ``items``, as the first part of a table."""
    base = empty_schema("t", keys, scale)
    builder = RowPartBuilder(base)
    builder.add_all(copied(items))
    return evolve(base, builder.stats()) or base


def encode(items: list[dict[str, Any]], schema: TableSchema) -> EncodedRows:
    builder = RowPartBuilder(schema)
    builder.add_all(copied(items))
    return builder.build()


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def write_part(path: Path, items: list[dict[str, Any]], schema: TableSchema) -> EncodedRows:
    part = encode(items, schema)
    path.write_bytes(parquet_bytes(part.table))
    return part
