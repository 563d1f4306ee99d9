"""The schema of one DynamoDB table in the lake (format 2): which columns its parts have.

A schema only grows: schema ``n+1`` is schema ``n`` plus columns (see
docs/decisions/005-lake-format-2.md). Column types follow the DynamoDB type tag by rule:

====== ============================== ===========================================
kind   Arrow type                     holds
====== ============================== ===========================================
S      string                         S values
N      decimal128(38, scale)          N values whose text is a canonical decimal
B      binary                         B values (raw bytes)
BOOL   bool                           BOOL values
SS     list<string>                   SS sets, canonical member order
NS     list<decimal128(38, scale)>    NS sets whose every member is held
BS     list<binary>                   BS sets, canonical member order
json   string                         any value as canonical DynamoDB JSON
====== ============================== ===========================================

``scale`` is the table's ``number_scale``, fixed when its first schema is created. Every part
also has ``_item_hash`` (int64), ``_rest`` (string) and ``_pk``/``_sk`` (the key attributes:
S and N as exact text, B as binary). Field ids are Iceberg's: assigned once, never reused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pyarrow as pa

from schemas.keys import KeySchema
from schemas.models import dump_checked, load_checked
from schemas.projection import ColumnDecision

KIND = "table_schema"
FORMAT_VERSION = 2
HASH = "_item_hash"
REST = "_rest"
PK = "_pk"
SK = "_sk"
SYSTEM_COLUMNS = (HASH, REST, PK, SK)
KINDS = ("S", "N", "B", "BOOL", "SS", "NS", "BS", "json")
SCALAR_KINDS = frozenset({"S", "N", "B", "BOOL", "SS", "NS", "BS"})
LIST_KINDS = frozenset({"SS", "NS", "BS"})
DEFAULT_SCALE = 6
MAX_SCALE = 37
MAX_ATTRIBUTE_COLUMNS = 500
MAX_NAME_BYTES = 255
_KEY_ARROW = {"S": pa.string(), "N": pa.string(), "B": pa.binary()}


@dataclass(frozen=True)
class Column:
    """One attribute column; ``element_id`` is the field id of a list's element."""

    id: int
    name: str
    kind: str
    element_id: int | None = None

    def arrow_type(self, scale: int) -> pa.DataType:
        number = pa.decimal128(38, scale)
        return {"S": pa.string(), "N": number, "B": pa.binary(), "BOOL": pa.bool_(),
                "SS": pa.list_(pa.string()), "NS": pa.list_(number),
                "BS": pa.list_(pa.binary()), "json": pa.string()}[self.kind]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "kind": self.kind}
        if self.element_id is not None:
            data["element_id"] = self.element_id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        kind = str(data["kind"])
        if kind not in KINDS:
            raise ValueError(f"unknown column kind {kind!r}")
        element = data.get("element_id")
        if (element is None) == (kind in LIST_KINDS):
            raise ValueError(f"column {data['name']!r}: element_id is set exactly for lists")
        return cls(int(data["id"]), str(data["name"]), kind,
                   None if element is None else int(element))


@dataclass(frozen=True)
class TableSchema:
    """Schema ``schema_id`` of ``table``; schema 0 (no attribute columns) is never stored."""

    schema_id: int
    table: str
    keys: KeySchema
    number_scale: int
    columns: tuple[Column, ...] = ()
    last_column_id: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.number_scale <= MAX_SCALE:
            raise ValueError(f"number_scale {self.number_scale} is not in 0..{MAX_SCALE}")
        if self.last_column_id < self.first_attribute_id - 1:
            raise ValueError("last_column_id is below the system columns' ids")

    @property
    def first_attribute_id(self) -> int:
        return 5 if self.keys.sort is not None else 4

    @cached_property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @cached_property
    def lowered(self) -> frozenset[str]:
        return frozenset(c.name.lower() for c in self.columns)

    def key_columns(self) -> list[tuple[str, str, str]]:
        """(column, attribute name, key type) of ``_pk`` and ``_sk``."""
        pairs = [(PK, self.keys.partition)]
        if self.keys.sort is not None:
            pairs.append((SK, self.keys.sort))
        return [(column, attr.name, attr.type) for column, attr in pairs]

    def arrow_schema(self) -> pa.Schema:
        fields = [pa.field(HASH, pa.int64(), nullable=False), pa.field(REST, pa.string())]
        fields += [pa.field(column, _KEY_ARROW[key_type])
                   for column, _, key_type in self.key_columns()]
        fields += [pa.field(c.name, c.arrow_type(self.number_scale)) for c in self.columns]
        return pa.schema(fields)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "format_version": FORMAT_VERSION, "schema_id": self.schema_id,
                "table": self.table, "key_schema": self.keys.to_dict(),
                "number_scale": self.number_scale, "last_column_id": self.last_column_id,
                "columns": [c.to_dict() for c in self.columns]}

    def to_bytes(self) -> bytes:
        return dump_checked(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSchema:
        schema = cls(int(data["schema_id"]), str(data["table"]),
                     KeySchema.from_dict(data["key_schema"]), int(data["number_scale"]),
                     tuple(Column.from_dict(c) for c in data["columns"]),
                     int(data["last_column_id"]))
        _check_columns(schema)
        return schema


def _check_columns(schema: TableSchema) -> None:
    ids: set[int] = set()
    for c in schema.columns:
        for i in (c.id, c.element_id):
            if i is None:
                continue
            if i in ids or not schema.first_attribute_id <= i <= schema.last_column_id:
                raise ValueError(f"column {c.name!r}: field id {i} is reused or out of range")
            ids.add(i)
        problem = name_problem(c.name, schema.keys)
        if problem:
            raise ValueError(f"column {c.name!r}: {problem}")
    if len({c.name.lower() for c in schema.columns}) != len(schema.columns):
        raise ValueError("two columns have the same name ignoring case")


def schema_decisions(schema: TableSchema) -> list[ColumnDecision]:
    """The schema's columns as a manifest's ``columns`` (key attributes first, by their
    attribute names; an N key is held as exact text in ``_pk``/``_sk``)."""
    scale = schema.number_scale
    keys = [ColumnDecision(name, key_type, str(Column(0, name, key_type).arrow_type(scale)))
            for _, name, key_type in schema.key_columns()]
    return keys + [ColumnDecision(c.name, c.kind, str(c.arrow_type(scale)))
                   for c in schema.columns]


def parse_table_schema(data: bytes, *, what: str = "table schema") -> TableSchema:
    """The only way to read a stored table schema; every failure is a ManifestError."""
    return load_checked(data, what=what, kind=KIND, versions=frozenset({FORMAT_VERSION}),
                        build=TableSchema.from_dict)


def empty_schema(table: str, keys: KeySchema, number_scale: int = DEFAULT_SCALE) -> TableSchema:
    """Schema 0: the system and key columns only (every attribute in ``_rest``)."""
    system_ids = 4 if keys.sort is not None else 3
    return TableSchema(0, table, keys, number_scale, (), system_ids)


def name_problem(name: str, keys: KeySchema) -> str | None:
    """Why ``name`` cannot have a column of its own, or None."""
    if not name:
        return "empty name"
    if name in keys.names:
        return "key attribute (held by _pk/_sk)"
    if name.startswith("_"):
        return "name starts with '_' (reserved for ddblake columns)"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"name longer than {MAX_NAME_BYTES} bytes"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "name holds a control character"
    return None


def kind_for(tags: Iterable[str]) -> str:
    """A new column's kind, from the type tags its attribute was seen with."""
    distinct = set(tags)
    if len(distinct) == 1 and distinct <= SCALAR_KINDS:
        return next(iter(distinct))
    return "json"


@dataclass
class AttributeStats:
    """Rows and type tags of the attributes a part's schema has no column for."""

    rows: dict[str, int] = field(default_factory=dict)
    tags: dict[str, set[str]] = field(default_factory=dict)

    def add(self, name: str, tag: str, count: int) -> None:
        self.rows[name] = self.rows.get(name, 0) + count
        self.tags.setdefault(name, set()).add(tag)

    def merge(self, other: AttributeStats) -> AttributeStats:
        merged = AttributeStats(dict(self.rows), {k: set(v) for k, v in self.tags.items()})
        for name, count in other.rows.items():
            merged.rows[name] = merged.rows.get(name, 0) + count
            merged.tags.setdefault(name, set()).update(other.tags.get(name, ()))
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {name: [count, sorted(self.tags.get(name, ()))]
                for name, count in sorted(self.rows.items())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttributeStats:
        return cls({str(k): int(v[0]) for k, v in data.items()},
                   {str(k): {str(t) for t in v[1]} for k, v in data.items()})


def evolve(schema: TableSchema, stats: AttributeStats,
           *, cap: int = MAX_ATTRIBUTE_COLUMNS) -> TableSchema | None:
    """Schema ``n+1``: ``schema`` plus a column for each new attribute that may have one
    (safe name, no case collision, most frequent first, at most ``cap`` columns in all);
    None when nothing is added."""
    lowered = set(schema.lowered)
    added: list[Column] = []
    next_id = schema.last_column_id + 1
    ranked = sorted(stats.rows.items(), key=lambda kv: (-kv[1], kv[0]))
    for name, _ in ranked:
        if len(schema.columns) + len(added) >= cap:
            break
        if name in schema.by_name or name_problem(name, schema.keys) is not None:
            continue
        if name.lower() in lowered:
            continue
        kind = kind_for(stats.tags.get(name, ()))
        element = next_id + 1 if kind in LIST_KINDS else None
        added.append(Column(next_id, name, kind, element))
        next_id = (element or next_id) + 1
        lowered.add(name.lower())
    if not added:
        return None
    return TableSchema(schema.schema_id + 1, schema.table, schema.keys, schema.number_scale,
                       schema.columns + tuple(added), next_id - 1)


__all__ = ["DEFAULT_SCALE", "HASH", "KINDS", "MAX_ATTRIBUTE_COLUMNS", "PK", "REST", "SK",
           "AttributeStats", "Column", "TableSchema", "empty_schema", "evolve", "kind_for",
           "name_problem", "parse_table_schema", "schema_decisions"]
