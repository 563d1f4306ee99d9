"""What the tests compare: each item per key, as canonical DynamoDB JSON text, from the truth
(the history), from `ddblake query` and from Iceberg rows; and the typed cells themselves."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from schemas.dynamo_json import Item, canonical_bytes
from schemas.table_schema import TableSchema
from tests.helpers import run_cli
from tests.iceberg.lakegen import History, item_of

Items = dict[Any, bytes]


def canon(item: Item) -> bytes:
    return canonical_bytes(copy.deepcopy(item))


def item_hash(item: Item) -> int:
    return int.from_bytes(hashlib.sha256(canon(item)).digest()[:8], "big", signed=True)


def truth(history: History, us: int) -> Items:
    return {k: canon(v) for k, v in history.state_at(us).items()}


def truth_hashes(history: History, us: int) -> dict[str, int]:
    return {k: item_hash(v) for k, v in history.state_at(us).items()}


def ddblake_query(capsys: Any, folder: Path, lake: str, *flags: str,
                  sql: str = "SELECT * FROM items") -> list[dict[str, Any]]:
    """The rows of `ddblake query` (Parquet output: exact types)."""
    out = folder / f"query-{uuid.uuid4().hex[:8]}.parquet"
    code, _, err = run_cli(capsys, "query", "--lake", lake, *flags, "--format", "parquet",
                           "--output", str(out), sql)
    assert code == 0, err
    return list(pq.read_table(out).to_pylist())


def key(row: dict[str, Any]) -> Any:
    """``_pk``, or (``_pk``, ``_sk``) for a table with a sort key."""
    return row["_pk"] if row.get("_sk") is None else (row["_pk"], row["_sk"])


def ddblake_items(rows: list[dict[str, Any]]) -> Items:
    return {key(r): canon(json.loads(r["_item"])) for r in rows}


def iceberg_items(rows: list[dict[str, Any]], schema: TableSchema) -> Items:
    """Items of Iceberg rows: a change row's ``_new``, else its typed cells and ``_rest``."""
    return {key(r): canon(json.loads(r["_new"]) if r.get("_new") else item_of(r, schema))
            for r in rows}


def _plain(value: Any) -> Any:
    if isinstance(value, str) and value[:1] == "{":
        return json.loads(value)
    return value


def cells(rows: list[dict[str, Any]], names: list[str]) -> dict[str, tuple[Any, ...]]:
    """Typed cells by key (JSON text parsed, so two spellings of one value are equal)."""
    return {key(r): tuple(_plain(r.get(n)) for n in names) for r in rows}


def to_rows(data: Any) -> list[dict[str, Any]]:
    """Rows of an Arrow table or a polars frame."""
    return list(data.to_pylist() if hasattr(data, "to_pylist") else data.to_dicts())
