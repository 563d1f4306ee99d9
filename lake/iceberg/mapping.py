"""The one place that knows how a lake part's Parquet schema becomes an Iceberg schema.

Lake format 2 (docs/decisions/005) writes every part of a table against one schema that only
grows by adding columns, each column with an Iceberg-style field id (``PARQUET:field_id``),
no extension types. Iceberg readers then resolve columns by field id, so a part written before
a column existed reads that column as NULL, and a renamed column (which format 2 never does)
could not be misread by name.

Everything format-specific for publishing is here:

- :func:`part_schema`: a part's Arrow schema -> an Iceberg schema, refusing what Iceberg
  readers would misread (a column without a field id: a format 1 part);
- :func:`merge_schema`: the table's Iceberg schema after a part's columns are added;
- the change-table column names the documented SQL relies on (:data:`EVENT_US` ...).

Iceberg table fields are all optional: a column added later is NULL in older parts.
"""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.io.pyarrow import pyarrow_to_schema
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField

from schemas.errors import CorruptDataError, UsageError

# Change-table columns the documented as-of SQL uses (schemas/changes.py names them).
EVENT_US = "_event_us"
OPERATION = "_op"
SEQUENCE = "_seq"
FIELD_ID = b"PARQUET:field_id"


def _missing_ids(schema: pa.Schema) -> list[str]:
    """Columns (top-level and nested) that carry no field id."""
    missing: list[str] = []

    def walk(field: pa.Field, path: str) -> None:
        if FIELD_ID not in (field.metadata or {}):
            missing.append(path)
        kind = field.type
        if isinstance(kind, pa.ExtensionType):
            missing.append(f"{path} (extension type {kind.extension_name})")
            return
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            walk(kind.value_field, f"{path}.element")
        elif pa.types.is_map(kind):
            walk(kind.key_field, f"{path}.key")
            walk(kind.item_field, f"{path}.value")
        elif pa.types.is_struct(kind):
            for child in kind:
                walk(child, f"{path}.{child.name}")

    for field in schema:
        walk(field, field.name)
    return missing


def part_schema(schema: pa.Schema, *, what: str) -> Schema:
    """The Iceberg schema of one part (``what`` names it in errors)."""
    missing = _missing_ids(schema)
    if missing:
        raise UsageError(
            f"{what} is not in lake format 2: columns without an Iceberg field id "
            f"({', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})",
            hint="Iceberg tables need lake format 2 parts; export the table again with this "
                 "ddblake (or convert the lake to format 2) and rerun `ddblake iceberg`")
    try:
        converted = pyarrow_to_schema(schema)
    except (ValueError, TypeError) as e:
        raise UsageError(f"{what} has a column Iceberg cannot hold: {e}",
                         hint="report this with the part's schema (`ddblake show`)") from e
    return Schema(*(_optional(f) for f in converted.fields))


def _optional(field: NestedField) -> NestedField:
    return NestedField(field.field_id, field.name, field.field_type, required=False,
                       doc=field.doc)


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
                f"but {old.name} {old.field_type} in earlier parts",
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
