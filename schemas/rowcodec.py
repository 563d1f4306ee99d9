"""Items -> format 2 parts (one Arrow table per part, against a table schema), proven exact.

Per item, Python only sorts sets, serializes (orjson) and hashes, as format 1 did, and
serializes the values of its ``json`` cells (:mod:`schemas.rowbatch`) and sets aside its
``_rest`` attributes (where each attribute goes is decided once per set of attribute
names). ``build`` then reads the typed columns out of the canonical texts in C++
(pyarrow's JSON reader with an explicit schema), puts each value in its cell when the cell
holds it exactly (:mod:`schemas.rowcells`), and **proves every row**: it
rebuilds the row's canonical text from the columns with the decoder that restore and verify
use (:mod:`schemas.rowtext`) and compares it, whole, with the item's canonical text (the
text that was hashed). A row that differs is stored whole (all attribute cells null, the
item in ``_rest``) and proven again; a row that still differs fails the part.

Why the proof is complete: what restore returns for a row is exactly
``rowtext.canonical_texts`` of that row, and the proof compares that very output, byte for
byte, with the canonical text of every row, nothing skipped or sampled; the encoder's
speed-ups (how the cells are read and rendered) change how the row is built, never
what is compared, so any mistake in them fails the proof instead of the backup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from schemas.dynamo_json import Item, canonical_bytes, canonicalize, sort_set
from schemas.errors import CorruptDataError
from schemas.rowbatch import TextColumn
from schemas.rowcells import READ_TYPES, HeldOut, python_values
from schemas.rowparts import (
    EncodedRows,
    assemble,
    digest_of,
    hash_column,
    hash_of,
    key_rank,
    prove,
)
from schemas.rowtext import canonical_texts
from schemas.table_schema import HASH, REST, AttributeStats, TableSchema

_SORT = orjson.OPT_SORT_KEYS
_sha256 = hashlib.sha256
_SETS = frozenset({"SS", "NS", "BS"})
_SET_MARKER = b'S":['  # only a set tag is followed by an array
_TAGS = frozenset({"S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "M", "L"})


@dataclass
class _Plan:
    """Where the attributes of every item with one set of attribute names go. Type tags are
    not looked at per item: a typed column's reader finds the values whose tag is not the
    column's (:meth:`RowPartBuilder.read_values`), and those go to ``_rest``."""

    sets: tuple[tuple[str, str], ...]  # (attribute, set tag) of set columns: sorted in add
    typed: tuple[tuple[str, str], ...]  # (attribute, column kind) read into a typed column
    json: tuple[str, ...]
    rest: tuple[str, ...]  # no column: kept in _rest, their tags counted for the stats
    tags: dict[tuple[str, str], int] = field(default_factory=dict)  # (rest name, tag) -> rows
    json_cells: tuple[tuple[str, list[int], TextColumn], ...] = ()  # rows and texts, added to
    placed: bool = False  # whether add sets anything aside for items with these names


@dataclass
class _JsonCells:
    """One ``json`` column's rows and their cells' texts."""

    rows: list[int] = field(default_factory=list)
    texts: TextColumn = field(default_factory=TextColumn)


@dataclass
class _Placed:
    """What ``add`` set aside for ``build``, per row."""

    json: dict[str, _JsonCells] = field(default_factory=dict)
    rest: dict[int, dict[str, Any]] = field(default_factory=dict)


class RowPartBuilder:
    """Accumulates wire-form items for one format 2 part (takes ownership of each item)."""

    def __init__(self, schema: TableSchema) -> None:
        self.schema = schema
        self._data = bytearray()  # the canonical texts, each followed by a newline
        self._ends: list[int] = []
        self._digests: list[bytes] = []
        self._plans: dict[tuple[str, ...], _Plan] = {}
        self._placed = _Placed()
        self._longest = 0
        self.item_bytes = 0

    def __len__(self) -> int:
        return len(self._ends)

    def add_all(self, items: Iterable[Item]) -> None:
        for item in items:
            self.add(item)

    def add(self, item: Item) -> None:
        names = tuple(item)
        plan = self._plans.get(names) or self._plan(names)
        for name, tag in plan.sets:
            av = item[name]
            if not isinstance(av, dict) or tag not in av:  # another type: sort every set
                canonicalize(item)
                break
            av[tag] = sort_set(tag, av[tag])
        text = orjson.dumps(item, option=_SORT)
        if text.count(_SET_MARKER) > len(plan.sets):
            text = canonical_bytes(item)  # sets not sorted above: nested, or another type
        if plan.placed:
            self._place(item, len(self._ends), plan)
        data = self._data
        data += text
        data += b"\n"
        self._ends.append(len(data))
        self._digests.append(_sha256(text).digest())
        self.item_bytes += len(text)
        if len(text) > self._longest:
            self._longest = len(text)

    def _place(self, item: Item, row: int, plan: _Plan) -> None:
        for name, rows, texts in plan.json_cells:
            texts.add(item[name])
            rows.append(row)
        if plan.rest:
            rest = {name: item[name] for name in plan.rest}
            self._placed.rest[row] = rest
            for name, av in rest.items():
                tag = next(iter(av)) if isinstance(av, dict) and len(av) == 1 else None
                if tag in _TAGS:
                    plan.tags[name, tag] = plan.tags.get((name, tag), 0) + 1

    def _plan(self, names: tuple[str, ...]) -> _Plan:
        keys = set(self.schema.keys.names)
        sets, typed, json, rest = [], [], [], []
        for name in names:
            column = self.schema.by_name.get(name)
            if name in keys:
                continue
            if column is None:
                rest.append(name)
            elif column.kind == "json":
                json.append(name)
            else:
                typed.append((name, column.kind))
                if column.kind in _SETS:
                    sets.append((name, column.kind))
        plan = _Plan(tuple(sets), tuple(typed), tuple(json), tuple(rest),
                     placed=bool(json or rest))
        cells = [(name, self._placed.json.setdefault(name, _JsonCells())) for name in plan.json]
        plan.json_cells = tuple((name, c.rows, c.texts) for name, c in cells)
        self._plans[names] = plan
        return plan

    def stats(self) -> AttributeStats:
        """Rows and tags of the attributes that have no column in the builder's schema."""
        stats = AttributeStats()
        for plan in self._plans.values():
            for (name, tag), rows in plan.tags.items():
                stats.add(name, tag, rows)
        return stats

    def retarget(self, schema: TableSchema) -> None:
        """Place the items added so far against another schema (the first part of a new
        table is built against the schema its own statistics created)."""
        self.schema = schema
        self._plans.clear()
        self._placed = _Placed()
        for row, text in enumerate(self.texts()):
            item = orjson.loads(text)
            plan = self._plans.get(tuple(item)) or self._plan(tuple(item))
            self._place(item, row, plan)

    def build(self) -> EncodedRows:
        """The part, rows sorted by key. A builder builds once: this releases its texts."""
        return assemble(self)

    # Accessors for schemas.rowparts (kept here so the builder owns its state).
    def texts(self) -> list[bytes]:
        """The canonical texts (orjson escapes every newline inside a string: a raw one
        only ends a text)."""
        return bytes(self._data).split(b"\n")[:-1]

    def lines(self) -> pa.Array:
        """The canonical texts, each followed by a newline, as a string array over the
        builder's buffer (no copy)."""
        if len(self._data) >= 1 << 31:
            return pa.array([t + b"\n" for t in self.texts()], pa.large_string())
        bounds = np.zeros(len(self._ends) + 1, dtype=np.int32)
        bounds[1:] = self._ends
        return pa.StringArray.from_buffers(len(self._ends), pa.py_buffer(bounds),
                                           pa.py_buffer(self._data))

    def digests(self) -> list[bytes]:
        return self._digests

    def placed(self) -> _Placed:
        return self._placed

    def plans(self) -> list[_Plan]:
        return list(self._plans.values())

    def release(self) -> None:
        self._data, self._ends, self._digests = bytearray(), [], []

    def read_values(self, wanted: dict[str, str], keys: frozenset[str]
                    ) -> tuple[dict[str, pa.Array], HeldOut]:
        """The values of each wanted (attribute -> tag), read from the texts in C++, and
        the values held out as (row, {name: value}): an attribute (not a key) present
        with another tag than its column's. If the reader refuses (a value of the wrong JSON
        type), the values are read in Python, wrong ones held out too."""
        fields = [pa.field(name, pa.struct([(tag, READ_TYPES[tag])]))
                  for name, tag in sorted(wanted.items())]
        try:
            table = self._read_json(pa.schema(fields))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return self._python_values(wanted, keys)
        values: dict[str, pa.Array] = {}
        held: HeldOut = []
        for name in wanted:
            present = table.column(name).combine_chunks()
            values[name] = pc.struct_field(present, [0])
            if name not in keys and values[name].null_count > present.null_count:
                other = pc.and_(present.is_valid(), values[name].is_null())
                held += [(row, {name: orjson.loads(self.text(row))[name]})
                         for row in pc.indices_nonzero(other).to_pylist()]
        return values, held

    def text(self, row: int) -> bytes:
        """One row's canonical text."""
        start = self._ends[row - 1] if row else 0
        return bytes(self._data[start:self._ends[row] - 1])

    def _read_json(self, schema: pa.Schema) -> pa.Table:
        n = len(self._ends)
        if not n or not len(schema):
            return pa.table({f.name: pa.array([None] * n, f.type) for f in schema},
                            schema=schema)
        data = self._data
        block = max(2 * self._longest + 2, min(len(data) + 1, 1 << 23))
        return pj.read_json(
            pa.BufferReader(pa.py_buffer(data)),
            read_options=pj.ReadOptions(block_size=block, use_threads=len(data) > block),
            parse_options=pj.ParseOptions(explicit_schema=schema,
                                          unexpected_field_behavior="ignore"))

    def _python_values(self, wanted: dict[str, str], keys: frozenset[str]
                       ) -> tuple[dict[str, pa.Array], HeldOut]:
        items = [orjson.loads(t) for t in self.texts()]
        values: dict[str, pa.Array] = {}
        held: HeldOut = []
        for name, tag in wanted.items():
            values[name], out = python_values(items, name, tag, other_tags=name not in keys)
            held += [(row, {name: av}) for row, av in out]
        return values, held


def part_schema(metadata: dict[bytes, bytes] | None) -> TableSchema | None:
    """The table schema a format 2 part was written against (its key-value metadata), or
    None for a part without one (format 1)."""
    raw = (metadata or {}).get(b"ddblake.schema")
    if raw is None:
        return None
    try:
        return TableSchema.from_dict(orjson.loads(raw))
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as e:
        raise CorruptDataError(f"a part's ddblake.schema metadata is unreadable ({e})",
                               hint="run `ddblake verify --deep`") from e


def decode_texts(data: pa.Table | pa.RecordBatch, schema: TableSchema) -> list[str]:
    """The canonical text of every row's item."""
    return canonical_texts(data, schema).to_pylist()  # type: ignore[no-any-return]


def decode_items(data: pa.Table | pa.RecordBatch, schema: TableSchema) -> list[Item]:
    """Wire-form items back from format 2 rows (exact: the writer proved every row)."""
    return [orjson.loads(text) for text in decode_texts(data, schema)]


def damaged_rows(data: pa.Table | pa.RecordBatch, schema: TableSchema) -> list[int]:
    """Rows whose rebuilt text does not hash to their ``_item_hash`` (verify --deep)."""
    texts = canonical_texts(data, schema).to_pylist()
    recorded = data.column(HASH).to_pylist()
    return [row for row, (text, h) in enumerate(zip(texts, recorded, strict=True))
            if text is None or hash_of(text.encode("utf-8")) != h]


__all__ = ["HASH", "REST", "EncodedRows", "RowPartBuilder", "damaged_rows", "decode_items",
           "decode_texts", "digest_of", "hash_column", "hash_of", "key_rank", "part_schema",
           "prove"]
