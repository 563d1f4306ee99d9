"""Items <-> Arrow record batches: the lossless spine plus typed projections.

Every row carries ``_item`` (the canonical DynamoDB JSON of the whole item, Parquet JSON
logical type), ``_item_sha256`` (hex sha256 of ``_item``'s UTF-8 bytes), the key columns
``_pk``/``_sk`` (S -> string, N -> exact text, B -> binary) and one typed column per
top-level attribute that has a single type in the part and a safe name (see
:mod:`schemas.projection`). Reading back uses ``_item`` only, so projections can never lose data.

How it is fast: per item, Python only sorts sets, serializes and hashes. The columns are
then read out of the canonical texts in C++ by pyarrow's JSON reader with an explicit schema
(DynamoDB JSON is type-stable per tag: ``S`` is always a string, ``M`` always an object...),
with maps and lists left opaque.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from schemas.dynamo_json import Digest, Item, canonical_bytes, parse_item, sha256_hex, sort_set
from schemas.keys import KeySchema, key_order
from schemas.projection import TAGS, ColumnDecision, project_column

ITEM = "_item"
ITEM_SHA = "_item_sha256"
PK = "_pk"
SK = "_sk"
SPINE_COLUMNS = (ITEM, ITEM_SHA, PK, SK)

_SETS = frozenset({"SS", "NS", "BS"})
_CONTAINERS = frozenset({"M", "L"})
_SET_MARKER = b'S":['  # only a set tag is followed by an array: "SS":[ "NS":[ "BS":[
_TAG_FIELDS = pa.struct([
    ("S", pa.string()), ("N", pa.string()), ("B", pa.string()), ("BOOL", pa.bool_()),
    ("NULL", pa.bool_()), ("SS", pa.list_(pa.string())), ("NS", pa.list_(pa.string())),
    ("BS", pa.list_(pa.string())), ("M", pa.struct([])), ("L", pa.list_(pa.struct([]))),
])


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
    """Accumulates wire-form items for one part.

    ``add`` takes ownership of the item: it puts its sets in canonical order (in place),
    serializes and hashes it. ``build`` derives key and typed columns from the texts.
    Memory is the canonical text plus its hash.
    """

    def __init__(self, keys: KeySchema) -> None:
        self.keys = keys
        self._texts: list[bytes] = []
        self._shas: list[str] = []
        self._names: set[str] = set()
        self._longest = 0
        self.item_bytes = 0

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, item: Item) -> None:
        top_sets = 0
        nested = False
        for av in item.values():
            for tag in av:
                if tag in _SETS:
                    av[tag] = sort_set(tag, av[tag])
                    top_sets += 1
                elif tag in _CONTAINERS:
                    nested = True
        # orjson returns its growth buffer (~4-8 KB) as the bytes object; copy to keep
        # only the text (a 14x smaller part in memory for ~600-byte items).
        text = memoryview(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).tobytes()
        if nested and text.count(_SET_MARKER) > top_sets:
            text = canonical_bytes(item)  # sets inside maps or lists: sort them too
        self._texts.append(text)
        self._shas.append(sha256_hex(text))
        self._names.update(item)
        self.item_bytes += len(text)
        if len(text) > self._longest:
            self._longest = len(text)

    def add_all(self, items: Iterable[Item]) -> None:
        for item in items:
            self.add(item)

    def build(self) -> EncodedPart:
        n = len(self._texts)
        attributes = self._read_attributes()
        arrays: dict[str, pa.Array] = {
            ITEM: pa.ExtensionArray.from_storage(pa.json_(), pa.array(self._texts, pa.string())),
            ITEM_SHA: pa.array(self._shas, pa.string()),
        }
        for column, attr in ((PK, self.keys.partition), (SK, self.keys.sort)):
            if attr is not None:
                arrays[column] = _key_array(attributes[attr.name].field(attr.type), attr.type)
        lowered: dict[str, int] = {}
        for name in self._names:
            lowered[name.lower()] = lowered.get(name.lower(), 0) + 1
        decisions = []
        for name in sorted(self._names):
            decision, array = project_column(name, attributes[name],
                                             case_collision=lowered[name.lower()] > 1)
            decisions.append(decision)
            if array is not None:
                arrays[name] = array
        table = pa.table(arrays)
        min_key = max_key = None
        if n:
            ranked = self._key_order(table)
            table = table.take(ranked)
            min_key = self._key_at(attributes, ranked[0].as_py())
            max_key = self._key_at(attributes, ranked[-1].as_py())
        digest = Digest(sum(int(h, 16) for h in self._shas) % Digest.MOD, n)
        return EncodedPart(table, n, self.item_bytes, digest, min_key, max_key, decisions)

    def _read_attributes(self) -> dict[str, pa.StructArray]:
        """One struct column per top-level attribute, with a field per DynamoDB type tag."""
        names = sorted(self._names)
        schema = pa.schema([pa.field(name, _TAG_FIELDS) for name in names])
        if not self._texts:
            return {name: pa.array([], _TAG_FIELDS) for name in names}
        data = b"\n".join(self._texts)
        # A block must hold the longest line; small parts get one small block.
        block = max(2 * self._longest + 2, min(len(data) + 1, 1 << 23))
        table = pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(block_size=block, use_threads=len(data) > block),
            parse_options=pj.ParseOptions(explicit_schema=schema,
                                          unexpected_field_behavior="ignore"))
        return {name: table.column(name).combine_chunks() for name in names}

    def _key_order(self, table: pa.Table) -> pa.Array:
        """Row order by DynamoDB key order. S and B key columns sort bytewise in Arrow (UTF-8
        byte order is DynamoDB's string order); N keys, kept as exact text, sort by value."""
        if all(a.type != "N" for a in self.keys.attributes):
            columns = [(c, "ascending") for c in (PK, SK) if c in table.column_names]
            return pc.sort_indices(table, sort_keys=columns)
        orders = []
        for column, attr in ((PK, self.keys.partition), (SK, self.keys.sort)):
            if attr is not None:
                values = table.column(column).to_pylist()
                wire = [base64.b64encode(v).decode() if attr.type == "B" else v for v in values]
                orders.append([key_order({attr.type: v}) for v in wire])
        ranked = sorted(range(table.num_rows), key=lambda i: tuple(o[i] for o in orders))
        return pa.array(ranked, pa.int64())

    def _key_at(self, attributes: dict[str, pa.StructArray], row: int) -> Item:
        return {attr.name: {attr.type: attributes[attr.name].field(attr.type)[row].as_py()}
                for attr in self.keys.attributes}


def _key_array(values: pa.Array, key_type: str) -> pa.Array:
    """The ``_pk``/``_sk`` column: S and N as text, B decoded from base64."""
    if key_type == "B":
        return pa.array([base64.b64decode(b) for b in values.to_pylist()], pa.binary())
    return values


def encode_items(items: Iterable[Item], keys: KeySchema) -> EncodedPart:
    """Encode wire-form items (taken over and canonicalized in place) into one part."""
    builder = PartBuilder(keys)
    builder.add_all(items)
    return builder.build()


def iter_item_texts(table: pa.Table | pa.RecordBatch) -> Iterator[str]:
    """The ``_item`` text of every row, as stored."""
    column = table.column(ITEM)
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        storage = chunk.storage if isinstance(chunk, pa.ExtensionArray) else chunk
        yield from storage.to_pylist()


def decode_items(table: pa.Table | pa.RecordBatch) -> Iterator[Item]:
    """Wire-form items back from a table or batch: reads ``_item`` only."""
    for text in iter_item_texts(table):
        yield parse_item(text)


def item_json_text(item: Item) -> str:
    """Canonical text of an item as ``str`` (the item is copied first, not modified)."""
    return canonical_bytes(orjson.loads(orjson.dumps(item))).decode("utf-8")


__all__ = ["ITEM", "ITEM_SHA", "PK", "SK", "TAGS", "EncodedPart", "PartBuilder",
           "decode_items", "encode_items", "item_json_text", "iter_item_texts"]
