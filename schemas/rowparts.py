"""Assembling a format 2 part from a :class:`schemas.rowcodec.RowPartBuilder`: cells, the
residual, the proof, key order, hash and digest."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from schemas.arrowbytes import offsets, value_bytes
from schemas.dynamo_json import Digest, Item
from schemas.errors import CorruptDataError
from schemas.keys import key_order
from schemas.rowbatch import TextColumn
from schemas.rowcells import HeldOut, cells_for
from schemas.rowtext import joined_texts
from schemas.table_schema import HASH, REST, AttributeStats, TableSchema

if TYPE_CHECKING:
    from schemas.rowcodec import RowPartBuilder

FORMAT = "2"
_SORT = orjson.OPT_SORT_KEYS


def part_metadata(schema: TableSchema) -> dict[bytes, bytes]:
    """Parquet key-value metadata that makes a part decodable on its own."""
    return {b"ddblake.format": FORMAT.encode(), b"ddblake.schema": orjson.dumps(schema.to_dict())}


def parquet_options(schema: TableSchema) -> dict[str, Any]:
    """``pyarrow.parquet.write_table`` options of a format 2 part: dictionary encoding for
    every column but ``_item_hash`` (random 8-byte values: measured 8.0 B/row plain, 9.3 B
    with a dictionary)."""
    leaves = [f"{field.name}.list.element" if pa.types.is_list(field.type) else field.name
              for field in schema.arrow_schema() if field.name != HASH]
    return {"use_dictionary": leaves}


def _scatter(length: int, rows: list[int], values: list[Any], arrow_type: pa.DataType
             ) -> pa.Array:
    if len(rows) == length:  # rows are appended in order: every row has a value
        return pa.array(values, arrow_type)
    full: list[Any] = [None] * length
    for row, value in zip(rows, values, strict=True):
        full[row] = value
    return pa.array(full, arrow_type)


def scatter(length: int, rows: list[int], values: pa.Array) -> pa.Array:
    """An array of ``length`` with ``values`` at ``rows`` (ascending), null elsewhere."""
    if len(rows) == length:
        return values
    where = np.full(length, -1, dtype=np.int64)
    where[np.asarray(rows, dtype=np.int64)] = np.arange(len(rows), dtype=np.int64)
    return values.take(pa.array(where, mask=where < 0))


def _mask(length: int, rows: list[int]) -> pa.Array:
    mask = np.zeros(length, dtype=bool)
    mask[rows] = True
    return pa.array(mask)


@dataclass
class EncodedRows:
    """One part's rows as an Arrow table, plus what the manifest records about them."""

    table: pa.Table
    rows: int
    item_bytes: int
    digest: Digest
    min_key: Item | None
    max_key: Item | None
    schema_id: int
    stats: AttributeStats  # attributes the schema has no column for
    whole_rows: int  # rows stored whole because their first encoding did not prove
    held_out: dict[str, int]  # per column: values kept in _rest (not held by the cell)


def hash_column(digests: list[bytes]) -> pa.Array:
    """``_item_hash``: the first 8 bytes of each sha256, big-endian, as a signed int64."""
    if not digests:
        return pa.array([], pa.int64())
    first = np.frombuffer(b"".join(digests), dtype=">i8")[::4]
    return pa.array(first.astype(np.int64), pa.int64())


def digest_of(digests: list[bytes]) -> Digest:
    """The content digest (sum of sha256 values mod 2^256) of the rows' digests, summed as
    32-bit limbs (exact for fewer than 2^32 rows)."""
    if not digests:
        return Digest(0, 0)
    limbs = np.frombuffer(b"".join(digests), dtype=">u4").reshape(-1, 8).sum(axis=0,
                                                                              dtype=np.uint64)
    total = sum(int(limb) << (32 * (7 - i)) for i, limb in enumerate(limbs))
    return Digest(total % Digest.MOD, len(digests))


def hash_of(text: bytes) -> int:
    """The ``_item_hash`` of one canonical text."""
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big", signed=True)


def key_rank(table: pa.Table, schema: TableSchema) -> pa.Array | None:
    """Row order by DynamoDB key order (None when already in order): S and B bytewise, N by
    value (kept as exact text, so ordered in Python)."""
    keys = schema.key_columns()
    rows = table.num_rows
    if all(key_type != "N" for _, _, key_type in keys):
        ranked = pc.sort_indices(table.select([c for c, _, _ in keys]),
                                 sort_keys=[(c, "ascending") for c, _, _ in keys])
    else:
        orders = []
        for column, _, key_type in keys:
            values = table.column(column).to_pylist()
            orders.append([_order(key_type, v) for v in values])
        ranked = pa.array(sorted(range(rows), key=lambda i: tuple(o[i] for o in orders)),
                          pa.int64())
    in_order = pc.all(pc.equal(ranked, pa.array(range(rows), ranked.type))).as_py()
    return None if rows == 0 or in_order else ranked


def _order(key_type: str, value: Any) -> Any:
    if value is None:
        return (0, b"")
    if key_type == "N":
        try:
            return (1, key_order({"N": value}))
        except ArithmeticError:
            return (2, value)
    return (1, value.encode("utf-8") if key_type == "S" else value)


def prove(table: pa.Table, schema: TableSchema, texts: pa.Array, end: str = "") -> list[int]:
    """The rows whose rebuilt canonical text differs from ``texts`` (the proof); each of
    ``texts`` ends with ``end``."""
    try:
        rebuilt = joined_texts(table, schema, end)
    except CorruptDataError:
        return list(range(table.num_rows))
    if _same_bytes(rebuilt, texts):
        return []
    same = pc.fill_null(pc.equal(rebuilt, texts), False)
    return [int(row) for row in pc.indices_nonzero(pc.invert(same)).to_pylist()]


def _same_bytes(a: pa.Array, b: pa.Array) -> bool:
    """Whether two string arrays without nulls hold the same texts (their offsets and bytes
    compared whole: one comparison of the part instead of one per row)."""
    if a.null_count or b.null_count or len(a) != len(b) or a.type != b.type:
        return False
    bounds_a, bounds_b = offsets(a), offsets(b)
    return (np.array_equal(bounds_a - bounds_a[0], bounds_b - bounds_b[0])
            and pa.py_buffer(value_bytes(a)).equals(pa.py_buffer(value_bytes(b))))


class _Cells:
    """The columns of one part while it is assembled (rows in insertion order)."""

    def __init__(self, builder: RowPartBuilder) -> None:
        self.schema = builder.schema
        self.n = len(builder)
        self.rest: dict[int, dict[str, Any]] = {row: dict(attrs)
                                                for row, attrs in builder.placed().rest.items()}
        self.held_out: dict[str, int] = {}
        self.columns: dict[str, pa.Array] = {}

    def hold_out(self, name: str, held: HeldOut) -> None:
        for row, av in held:
            self.rest.setdefault(row, {})[name] = av
        if held:
            self.held_out[name] = self.held_out.get(name, 0) + len(held)

    def fill(self, builder: RowPartBuilder) -> None:
        schema, placed = self.schema, builder.placed()
        wanted = {name: tag for plan in builder.plans() for name, tag in plan.typed}
        wanted.update({name: key_type for _, name, key_type in schema.key_columns()})
        keys = frozenset(name for _, name, _ in schema.key_columns())
        values, held = builder.read_values(wanted, keys)
        for row, attrs in held:
            for name, av in attrs.items():
                self.hold_out(name, [(row, av)])
        for column, name, key_type in schema.key_columns():
            self.columns[column] = (cells_for("B", values[name], 0)[0] if key_type == "B"
                                    else values[name])
        for c in schema.columns:
            arrow_type = c.arrow_type(schema.number_scale)
            if c.kind == "json":
                json = placed.json.get(c.name)
                self.columns[c.name] = (pa.nulls(self.n, arrow_type) if json is None else
                                        scatter(self.n, json.rows, json.texts.array()))
            elif c.name in wanted:
                cells, out = cells_for(c.kind, values[c.name], schema.number_scale)
                self.columns[c.name] = cells
                self.hold_out(c.name, out)
            else:
                self.columns[c.name] = pa.nulls(self.n, arrow_type)

    def make_whole(self, rows: list[int], texts: list[bytes]) -> None:
        """Store ``rows`` whole: attribute cells null, every attribute in ``_rest`` but the
        keys whose cell renders them exactly (a key cell that does not is nulled too)."""
        if not rows:
            return
        unkeyed: dict[str, list[int]] = {}
        for row in rows:
            item = orjson.loads(texts[row])
            held = set()
            for column, name, key_type in self.schema.key_columns():
                if item.get(name) == _key_value(self.columns[column][row].as_py(), key_type):
                    held.add(name)
                else:
                    unkeyed.setdefault(column, []).append(row)
            self.rest[row] = {k: v for k, v in item.items() if k not in held}
        nulled = [(c.name, rows) for c in self.schema.columns] + list(unkeyed.items())
        for name, which in nulled:
            column = self.columns[name]
            self.columns[name] = pc.if_else(_mask(self.n, which), pa.scalar(None, column.type),
                                            column)

    def table(self, hashes: pa.Array) -> pa.Table:
        rows = sorted(r for r, attrs in self.rest.items() if attrs)
        texts = TextColumn()
        if rows:
            texts.extend([self.rest[r] for r in rows])
        rest = scatter(self.n, rows, texts.array())
        schema = self.schema.arrow_schema().with_metadata(part_metadata(self.schema))
        arrays = [hashes, rest]
        arrays += [self.columns[name] for name in schema.names[2:]]
        return pa.Table.from_arrays(arrays, schema=schema)


def assemble(builder: RowPartBuilder) -> EncodedRows:
    cells = _Cells(builder)
    cells.fill(builder)
    hashes = hash_column(builder.digests())
    expected = builder.lines()
    table = cells.table(hashes)
    unproven = prove(table, builder.schema, expected, "\n")
    if unproven:
        cells.make_whole(unproven, builder.texts())
        table = cells.table(hashes)
        still = prove(table, builder.schema, expected, "\n")
        if still:
            raise CorruptDataError(f"{len(still)} item(s) do not reconstruct even when stored "
                                   f"whole (first: row {still[0]})",
                                   hint="this is a ddblake bug: please report it with the item")
    digest = digest_of(builder.digests())
    item_bytes, stats = builder.item_bytes, builder.stats()
    builder.release()
    ranked = key_rank(table, builder.schema)
    if ranked is not None:
        table = table.take(ranked)
    return EncodedRows(table, table.num_rows, item_bytes, digest, _key_at(table, builder, 0),
                       _key_at(table, builder, table.num_rows - 1), builder.schema.schema_id,
                       stats, len(unproven), dict(cells.held_out))


def _key_value(value: Any, key_type: str) -> dict[str, Any] | None:
    """The DynamoDB JSON (wire form) of a key cell's value."""
    if value is None:
        return None
    return {key_type: base64.b64encode(value).decode("ascii") if key_type == "B" else value}


def _key_at(table: pa.Table, builder: RowPartBuilder, row: int) -> Item | None:
    if not table.num_rows:
        return None
    key: Item = {}
    for column, name, key_type in builder.schema.key_columns():
        value = _key_value(table.column(column)[row].as_py(), key_type)
        if value is not None:
            key[name] = value
    return key


__all__ = ["HASH", "REST", "EncodedRows", "assemble", "digest_of", "hash_column", "hash_of",
           "key_rank", "parquet_options", "part_metadata", "prove"]
