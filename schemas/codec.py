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
from itertools import accumulate, chain, repeat

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from schemas.dynamo_json import (
    Digest,
    Item,
    canonical_bytes,
    canonicalize,
    parse_item,
    sha256_hex,
    sort_set,
)
from schemas.errors import CorruptDataError
from schemas.keys import KeySchema, key_order
from schemas.projection import TAGS, ColumnDecision, plan_column, project_column, typed_column

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
# An attribute value without a type tag, or a tag with a null value (not DynamoDB JSON, but
# possible input): then the tags seen per attribute may not be what the reader sees. Also
# matches empty maps and strings holding this text, which only costs a slower build.
_SUSPECT = (b'":{}', b'":null')
_KNOWN_TAGS = frozenset(TAGS)
_MAX_SHAPES = 1024  # distinct item shapes cached before folding them into per-name tags
_Values = dict[tuple[str, str], "pa.ChunkedArray"]


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


@dataclass(frozen=True)
class _Shape:
    """What every item with the same attribute names and type tags (in order) needs."""

    names: tuple[str, ...]
    tags: tuple[str, ...]
    sets: tuple[tuple[str, str], ...]  # (attribute, set tag) to sort
    nested: bool  # has a map or list, which may hold sets
    regular: bool = True  # one tag per value (else: canonicalized the slow way)


class PartBuilder:
    """Accumulates wire-form items for one part.

    ``add`` takes ownership of the item: it puts its sets in canonical order (in place),
    serializes and hashes it. ``build`` derives key and typed columns from the texts,
    reading only the attributes that get a column. Memory is the canonical text plus its
    hash, and a bounded cache of item shapes (attribute names and type tags).
    """

    def __init__(self, keys: KeySchema) -> None:
        self.keys = keys
        self._texts: list[bytes] = []
        self._shas: list[str] = []
        self._shapes: dict[tuple[tuple[str, ...], tuple[str, ...]], _Shape] = {}
        self._tags: dict[str, set[str]] = {}  # attribute -> type tags (folded shapes)
        self._exact = False  # read every type tag of every attribute (unusual items)
        self._longest = 0
        self.item_bytes = 0

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, item: Item) -> None:
        names = tuple(item)
        tags = tuple(chain.from_iterable(item.values()))  # each value's type tag(s)
        shape = self._shapes.get((names, tags))
        if shape is None:
            shape = self._new_shape(names, tags)
        if not shape.regular:
            canonicalize(item)
        for name, tag in shape.sets:
            av = item[name]
            if tag not in av:  # the tags are not one per value: see _new_shape
                self._exact = True
                canonicalize(item)
                break
            av[tag] = sort_set(tag, av[tag])
        # orjson returns its growth buffer (~4-8 KB) as the bytes object; copy to keep
        # only the text (a 14x smaller part in memory for ~600-byte items).
        text = memoryview(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).tobytes()
        if shape.nested and text.count(_SET_MARKER) > len(shape.sets):
            text = canonical_bytes(item)  # sets inside maps or lists: sort them too
        self._texts.append(text)
        self._shas.append(sha256_hex(text))
        self.item_bytes += len(text)
        if len(text) > self._longest:
            self._longest = len(text)

    def _new_shape(self, names: tuple[str, ...], tags: tuple[str, ...]) -> _Shape:
        """The shape of items with these names and tags, cached when each value has one tag
        (no ``{}`` value and, then, the tags pair up with the names)."""
        if len(names) != len(tags):
            self._exact = True
            for name in names:
                self._tags.setdefault(name, set())
            return _Shape(names, (), (), True, regular=False)
        if not _KNOWN_TAGS.issuperset(tags):
            self._exact = True  # not DynamoDB JSON: read the known tags as they are
        if len(self._shapes) >= _MAX_SHAPES:
            self._fold_shapes()
        shape = _Shape(names, tags, tuple((n, t) for n, t in zip(names, tags, strict=True)
                                          if t in _SETS), not _CONTAINERS.isdisjoint(tags))
        self._shapes[(names, tags)] = shape
        return shape

    def _fold_shapes(self) -> None:
        for shape in self._shapes.values():
            for name, tag in zip(shape.names, shape.tags, strict=True):
                self._tags.setdefault(name, set()).add(tag)
        self._shapes.clear()

    def add_all(self, items: Iterable[Item]) -> None:
        for item in items:
            self.add(item)

    def build(self) -> EncodedPart:
        """The part, rows sorted by key. A builder builds once: this releases its texts."""
        self._fold_shapes()
        names = sorted(self._tags)
        data = b"\n".join(self._texts)
        if any(data.find(marker) >= 0 for marker in _SUSPECT):
            self._exact = True
        lowered: dict[str, int] = {}
        for name in names:
            lowered[name.lower()] = lowered.get(name.lower(), 0) + 1
        collides = {name: lowered[name.lower()] > 1 for name in names}
        plans: dict[str, ColumnDecision | None] = dict.fromkeys(names)
        if not self._exact:  # else decided from the read tags, as project_column does
            plans = {name: plan_column(name, [t for t in TAGS if t in self._tags[name]],
                                       case_collision=collides[name]) for name in names}
        values = self._read_values(plans, data)
        del data
        keys = {column: _key_array(values[attr.name, attr.type], attr.type)
                for column, attr in ((PK, self.keys.partition), (SK, self.keys.sort))
                if attr is not None}
        ranked = self._key_order(keys)
        arrays: dict[str, pa.Array | pa.ChunkedArray] = {**self._spine(ranked), **keys}
        decisions = []
        for name in names:
            plan = plans[name]
            if self._exact:
                decision, array = project_column(name, values[name, ""],
                                                 case_collision=collides[name])
            elif plan is None:
                (tag,) = self._tags[name]
                decision, array = typed_column(name, tag, values[name, tag])
            else:
                decision, array = plan, None
            decisions.append(decision)
            if array is not None:
                arrays[name] = array
        table = pa.table(arrays)
        if ranked is not None:  # the spine is in key order already
            others = [c for c in table.column_names if c not in (ITEM, ITEM_SHA)]
            taken = table.select(others).take(ranked)
            for column in others:
                table = table.set_column(table.schema.get_field_index(column), column,
                                         taken.column(column))
        return self._finish(table, values, ranked, decisions)

    def _spine(self, ranked: pa.Array | None) -> dict[str, pa.Array]:
        """``_item`` and ``_item_sha256`` in key order, built from the texts, which are then
        released (the part's biggest memory)."""
        texts, shas = self._texts, self._shas
        if ranked is not None:
            order = ranked.to_pylist()
            texts, shas = [texts[i] for i in order], [shas[i] for i in order]
        self._texts = []
        return {ITEM: pa.ExtensionArray.from_storage(pa.json_(), _string_array(texts)),
                ITEM_SHA: pa.array(shas, pa.string())}

    def _finish(self, table: pa.Table, values: _Values, ranked: pa.Array | None,
                decisions: list[ColumnDecision]) -> EncodedPart:
        n = table.num_rows
        min_key = max_key = None
        if n:
            first, last = (0, n - 1) if ranked is None else (ranked[0].as_py(),
                                                              ranked[-1].as_py())
            min_key, max_key = self._key_at(values, first), self._key_at(values, last)
        total = sum(map(int, self._shas, repeat(16, n)))
        digest = Digest(total % Digest.MOD, n)
        return EncodedPart(table, n, self.item_bytes, digest, min_key, max_key, decisions)

    def _read_values(self, plans: dict[str, ColumnDecision | None], data: bytes) -> _Values:
        """The values of each (attribute, tag) that a column or a key needs, read from the
        texts in C++; in exact mode, (attribute, "") is the struct of all the tags."""
        wanted: dict[str, tuple[str, ...]]
        if self._exact:
            wanted = dict.fromkeys(plans, TAGS)
        else:
            wanted = {name: tuple(self._tags[name]) for name, plan in plans.items()
                      if plan is None}
            for attr in self.keys.attributes:
                wanted[attr.name] = tuple({*wanted.get(attr.name, ()), attr.type})
        fields = [pa.field(name, pa.struct([(t, _TAG_FIELDS.field(t).type) for t in tags]))
                  for name, tags in sorted(wanted.items())]
        table = self._read_json(pa.schema(fields), data)
        values: _Values = {}
        for name, tags in wanted.items():
            column = table.column(name)
            if self._exact:
                values[name, ""] = column.combine_chunks()
            values.update(zip(((name, t) for t in tags), column.flatten(), strict=True))
        return values

    def _read_json(self, schema: pa.Schema, data: bytes) -> pa.Table:
        if not self._texts or not len(schema):
            return pa.table({f.name: pa.array([None] * len(self._texts), f.type)
                             for f in schema}, schema=schema)
        # A block must hold the longest line; small parts get one small block.
        block = max(2 * self._longest + 2, min(len(data) + 1, 1 << 23))
        return pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(block_size=block, use_threads=len(data) > block),
            parse_options=pj.ParseOptions(explicit_schema=schema,
                                          unexpected_field_behavior="ignore"))

    def _key_order(self, keys: dict[str, pa.Array]) -> pa.Array | None:
        """Row order by DynamoDB key order, or None when the rows are in that order already.
        S and B key columns sort bytewise in Arrow (UTF-8 byte order is DynamoDB's string
        order); N keys, kept as exact text, sort by value."""
        rows = len(self._shas)
        if all(a.type != "N" for a in self.keys.attributes):
            ranked = pc.sort_indices(pa.table(keys),
                                     sort_keys=[(c, "ascending") for c in keys])
        else:
            orders = []
            for column, attr in ((PK, self.keys.partition), (SK, self.keys.sort)):
                if attr is not None:
                    values = keys[column].to_pylist()
                    wire = [base64.b64encode(v).decode() if attr.type == "B" else v
                            for v in values]
                    orders.append([key_order({attr.type: v}) for v in wire])
            ranked = pa.array(sorted(range(rows), key=lambda i: tuple(o[i] for o in orders)),
                              pa.int64())
        in_order = pc.all(pc.equal(ranked, pa.array(range(rows), ranked.type))).as_py()
        return None if rows == 0 or in_order else ranked

    def _key_at(self, values: _Values, row: int) -> Item:
        return {attr.name: {attr.type: values[attr.name, attr.type][row].as_py()}
                for attr in self.keys.attributes}


def _string_array(texts: list[bytes]) -> pa.Array:
    """Texts as one string array, built from their concatenation (orjson writes valid
    UTF-8, so there is nothing to check per text)."""
    size = sum(map(len, texts))
    if size >= 1 << 31:
        return pa.array(texts, pa.string())
    offsets = pa.array(list(accumulate(map(len, texts), initial=0)), pa.int32())
    return pa.StringArray.from_buffers(len(texts), offsets.buffers()[1],
                                       pa.py_buffer(b"".join(texts)))


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
    """The canonical text of every row's item: ``_item`` as stored (format 1), or rebuilt
    from the columns of a format 2 part (its schema is in the part's metadata)."""
    if ITEM not in table.schema.names:
        from schemas.rowcodec import decode_texts, part_schema

        schema = part_schema(table.schema.metadata)
        if schema is None:
            raise CorruptDataError("a part has neither an _item column nor a format 2 schema",
                                   hint="is this a ddblake snapshot part? run `ddblake verify`")
        yield from decode_texts(table, schema)
        return
    column = table.column(ITEM)
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        storage = chunk.storage if isinstance(chunk, pa.ExtensionArray) else chunk
        yield from storage.to_pylist()


def decode_items(table: pa.Table | pa.RecordBatch) -> Iterator[Item]:
    """Wire-form items back from a table or batch of either format."""
    for text in iter_item_texts(table):
        yield parse_item(text)


def item_json_text(item: Item) -> str:
    """Canonical text of an item as ``str`` (the item is copied first, not modified)."""
    return canonical_bytes(orjson.loads(orjson.dumps(item))).decode("utf-8")


__all__ = ["ITEM", "ITEM_SHA", "PK", "SK", "TAGS", "EncodedPart", "PartBuilder",
           "decode_items", "encode_items", "item_json_text", "iter_item_texts"]
