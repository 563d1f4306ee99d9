"""The one place that knows how lake format 2 becomes Iceberg schemas.

**Items.** A format 2 snapshot's parts are written against one table schema
(``<table>/schema/<n>.json``, carried by its manifest; docs/decisions/005). The Iceberg schema
is made from it, with its field ids: the system columns take the ids the table schema
reserves below its first attribute id (``_item_hash`` 1, ``_rest`` 2, ``_pk`` 3, ``_sk`` 4
when the table has a sort key), every attribute column its own id, a list its element id.
Types follow the column kind: S string, N decimal(38, scale), B binary, BOOL boolean,
SS/NS/BS list of those, json string. A table schema only grows, so the table's Iceberg
schema is the union of its snapshots' schemas (:func:`merge_schema`): a part written before
a column existed reads it as NULL.

**Changes.** Change parts have fixed columns (``schemas/changes.py``), whatever the lake
format; their ids are fixed here (:data:`CHANGE_COLUMNS`). Images stay DynamoDB JSON text.

The Parquet files carry no field ids (format 2 keeps them in the lake's schema files); the
Iceberg tables carry ``schema.name-mapping.default`` instead (``lake.iceberg.tables``). Each
part's columns are checked against what its schema says before it is registered, so a name
can only map to the column it names. Iceberg table fields are all optional.

A format 1 snapshot has no table schema: it is not published (``lake.iceberg.items`` leaves
it out and says so).
"""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DecimalType,
    IcebergType,
    ListType,
    LongType,
    NestedField,
    StringType,
)

from schemas.changes import change_table
from schemas.errors import CorruptDataError
from schemas.keys import KeySchema
from schemas.table_schema import HASH, PK, REST, SK, Column, TableSchema

# Change-table columns the documented SQL uses (schemas/changes.py names them).
EVENT_US = "_event_us"
OPERATION = "_op"
SEQUENCE = "_seq"
_PRECISION = 38
_KEY_TYPES: dict[str, IcebergType] = {"S": StringType(), "N": StringType(),
                                      "B": BinaryType()}
# (name, field id) of every change-part column, in the parts' order; _sk only with a sort key.
CHANGE_COLUMNS = (("_event_us", 1), ("_op", 2), ("_keys", 3), ("_new", 4), ("_old", 5),
                  ("_new_sha256", 6), (PK, 7), (SK, 8), ("_source", 9), ("_seq", 10),
                  ("_ttl", 11))

# Change images are JSON text (Parquet's JSON logical type): no min/max statistics for them
# (useless for pruning, and pyarrow hands them over as bytes, which pyiceberg cannot encode).
CHANGE_PROPERTIES = {f"write.metadata.metrics.column.{name}": "none"
                     for name in ("_keys", "_new", "_old")}


def _column_type(column: Column, scale: int) -> IcebergType:
    number = DecimalType(_PRECISION, scale)
    scalar: dict[str, IcebergType] = {"S": StringType(), "N": number, "B": BinaryType(),
                                      "BOOL": BooleanType(), "json": StringType()}
    if column.kind in scalar:
        return scalar[column.kind]
    element = {"SS": StringType(), "NS": number, "BS": BinaryType()}[column.kind]
    assert column.element_id is not None  # TableSchema checks lists have one
    return ListType(column.element_id, element, element_required=False)


def _optional(fid: int, name: str, kind: IcebergType) -> NestedField:
    return NestedField(fid, name, kind, required=False)


def system_fields(keys: KeySchema) -> list[NestedField]:
    """``_item_hash``, ``_rest``, ``_pk`` (and ``_sk``) with ids 1..4."""
    fields = [_optional(1, HASH, LongType()), _optional(2, REST, StringType()),
              _optional(3, PK, _KEY_TYPES[keys.partition.type])]
    if keys.sort is not None:
        fields.append(_optional(4, SK, _KEY_TYPES[keys.sort.type]))
    return fields


def iceberg_schema(schema: TableSchema) -> Schema:
    """The Iceberg schema of the parts written against ``schema``."""
    fields = system_fields(schema.keys)
    fields += [_optional(c.id, c.name, _column_type(c, schema.number_scale))
               for c in schema.columns]
    return Schema(*fields)


def change_schema(keys: KeySchema) -> Schema:
    """The Iceberg schema of change parts (images as DynamoDB JSON text)."""
    types = {PK: _KEY_TYPES[keys.partition.type], "_event_us": LongType(),
             "_ttl": BooleanType()}
    if keys.sort is not None:
        types[SK] = _KEY_TYPES[keys.sort.type]
    return Schema(*(_optional(fid, name, types.get(name, StringType()))
                    for name, fid in CHANGE_COLUMNS if name != SK or keys.sort is not None))


def change_arrow_schema(keys: KeySchema) -> pa.Schema:
    """The Arrow schema change parts have (taken from the encoder itself)."""
    return change_table([], keys).schema


def _plain(kind: pa.DataType) -> object:
    """A type as a comparable value: extension types as their storage, lists by element."""
    if isinstance(kind, pa.BaseExtensionType):
        return _plain(kind.storage_type)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return ("list", _plain(kind.value_type))
    return kind


def check_columns(found: pa.Schema, expected: pa.Schema, *, what: str) -> None:
    """``found`` (a part's columns) must be ``expected``'s, by name and type, in order."""
    got = [(f.name, _plain(f.type)) for f in found]
    want = [(f.name, _plain(f.type)) for f in expected]
    if got != want:
        extra = [n for n, _ in got if n not in dict(want)]
        differ = [n for n, t in got if n in dict(want) and dict(want)[n] != t]
        missing = [n for n, _ in want if n not in dict(got)]
        raise CorruptDataError(
            f"{what} does not have the columns its schema says (unexpected: {extra[:5]}, "
            f"other type: {differ[:5]}, missing: {missing[:5]})",
            hint="run `ddblake verify --deep` on the table; it is not published")


def merge_schema(current: Schema | None, part: Schema, *, what: str,
                 next_id: int = 0) -> Schema:
    """``current`` plus the columns of ``part`` it lacks (a new schema numbered ``next_id``,
    or ``current`` itself when nothing is added); the same id must mean the same column
    (name and type), else the lake's schema history is broken."""
    if current is None:
        return Schema(*part.fields, schema_id=next_id)
    known = {f.field_id: f for f in current.fields}
    added = []
    for field in part.fields:
        old = known.get(field.field_id)
        if old is None:
            added.append(field)
        elif old.name != field.name or old.field_type != field.field_type:
            raise CorruptDataError(
                f"{what}: field id {field.field_id} is {field.name} {field.field_type} here "
                f"but {old.name} {old.field_type} in earlier snapshots",
                hint="a lake format 2 schema only grows by adding columns; run "
                     "`ddblake verify` on the table")
    taken = {f.name for f in current.fields}
    for field in added:
        if field.name in taken:
            raise CorruptDataError(f"{what}: column {field.name} has a new field id "
                                   f"{field.field_id}", hint="run `ddblake verify` on the table")
    if not added:
        return current
    return Schema(*current.fields, *added, schema_id=next_id)
