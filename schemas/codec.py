"""Items <-> Arrow record batches: the lossless spine plus typed projections.

Every row carries ``_item`` (the canonical DynamoDB JSON of the whole item, Parquet JSON
logical type), ``_item_sha256`` (hex sha256 of ``_item``'s UTF-8 bytes), the key columns
``_pk``/``_sk`` (S -> string, N -> exact text, B -> binary) and one typed column per
top-level attribute that has a single type in the part and a safe name (see
:mod:`schemas.projection`). Reading back uses ``_item`` only, so projections can never lose data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from schemas.dynamo_json import Digest, Item, canonical_bytes, parse_item, sha256_hex
from schemas.keys import KeySchema, key_order
from schemas.projection import ColumnDecision, project_column

ITEM = "_item"
ITEM_SHA = "_item_sha256"
PK = "_pk"
SK = "_sk"
SPINE_COLUMNS = (ITEM, ITEM_SHA, PK, SK)

_KEY_ARROW = {"S": pa.string(), "N": pa.string(), "B": pa.binary()}


@dataclass
class _Collected:
    tags: set[str] = field(default_factory=set)
    rows: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)


@dataclass
class EncodedPart:
    """One part's rows as an Arrow table, plus what the manifest records about them."""

    table: pa.Table
    rows: int
    item_bytes: int
    digest: Digest
    min_key: Item | None
    max_key: Item | None
    columns: list[ColumnDecision]


class PartBuilder:
    """Accumulates wire-form items for one part, column by column.

    ``add`` canonicalizes the item (in place: the builder takes ownership), hashes it and
    records its top-level values; ``build`` decides the typed columns and makes the table.
    Memory is the canonical text plus one small Python value per attribute.
    """

    def __init__(self, keys: KeySchema) -> None:
        self.keys = keys
        self._texts: list[bytes] = []
        self._shas: list[str] = []
        self._pk: list[Any] = []
        self._sk: list[Any] = []
        self._attrs: dict[str, _Collected] = {}
        self.item_bytes = 0
        self.digest = Digest()

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, item: Item) -> None:
        text = canonical_bytes(item)
        sha = sha256_hex(text)
        row = len(self._texts)
        self._texts.append(text)
        self._shas.append(sha)
        self.item_bytes += len(text)
        self.digest.add_hex(sha)
        pk = self.keys.partition.name
        self._pk.append(item[pk])
        if self.keys.sort is not None:
            self._sk.append(item[self.keys.sort.name])
        attrs = self._attrs
        for name, av in item.items():
            (tag, inner), = av.items()
            collected = attrs.get(name)
            if collected is None:
                collected = attrs[name] = _Collected()
            collected.tags.add(tag)
            collected.rows.append(row)
            collected.values.append(inner)

    def add_all(self, items: Iterable[Item]) -> None:
        for item in items:
            self.add(item)

    def build(self) -> EncodedPart:
        n = len(self._texts)
        storage = pa.array(self._texts, pa.string())
        arrays: dict[str, pa.Array] = {
            ITEM: pa.ExtensionArray.from_storage(pa.json_(), storage),
            ITEM_SHA: pa.array(self._shas, pa.string()),
            PK: _key_array(self._pk, self.keys.partition.type),
        }
        if self.keys.sort is not None:
            arrays[SK] = _key_array(self._sk, self.keys.sort.type)
        decisions = []
        lowered: dict[str, int] = {}
        for name in self._attrs:
            lowered[name.lower()] = lowered.get(name.lower(), 0) + 1
        for name, collected in sorted(self._attrs.items()):
            decision, array = project_column(name, collected.tags, collected.rows,
                                             collected.values, n,
                                             case_collision=lowered[name.lower()] > 1)
            decisions.append(decision)
            if array is not None:
                arrays[name] = array
        table = pa.table(arrays)
        min_key = max_key = None
        if n:
            order_pk = [key_order(v) for v in self._pk]
            sort_cols = [order_pk]
            if self.keys.sort is not None:
                sort_cols.append([key_order(v) for v in self._sk])
            ranked = sorted(range(n), key=lambda i: tuple(c[i] for c in sort_cols))
            table = table.take(pa.array(ranked, pa.int64()))
            min_key = self._key_at(ranked[0])
            max_key = self._key_at(ranked[-1])
        return EncodedPart(table, n, self.item_bytes, self.digest, min_key, max_key, decisions)

    def _key_at(self, row: int) -> Item:
        key = {self.keys.partition.name: self._pk[row]}
        if self.keys.sort is not None:
            key[self.keys.sort.name] = self._sk[row]
        return key


def _key_array(values: list[Any], key_type: str) -> pa.Array:
    inner = [next(iter(v.values())) for v in values]
    if key_type == "B":
        import base64

        return pa.array([base64.b64decode(b) for b in inner], pa.binary())
    return pa.array(inner, _KEY_ARROW[key_type])


def encode_items(items: Iterable[Item], keys: KeySchema) -> EncodedPart:
    """Encode wire-form items (taken over and canonicalized in place) into one part."""
    builder = PartBuilder(keys)
    builder.add_all(items)
    return builder.build()


def iter_item_texts(table: pa.Table | pa.RecordBatch) -> Iterator[str]:
    """The ``_item`` text of every row, as stored."""
    column = table.column(ITEM)
    if isinstance(column, pa.ChunkedArray):
        for chunk in column.chunks:
            yield from chunk.storage.to_pylist()
    else:
        yield from column.storage.to_pylist()


def decode_items(table: pa.Table | pa.RecordBatch) -> Iterator[Item]:
    """Wire-form items back from a table or batch: reads ``_item`` only."""
    for text in iter_item_texts(table):
        yield parse_item(text)


def item_json_text(item: Item) -> str:
    """Convenience: canonical text of an item as ``str`` (copies the item first)."""
    return canonical_bytes(orjson.loads(orjson.dumps(item))).decode("utf-8")
