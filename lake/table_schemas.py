"""Table schemas in the lake: ``<table>/schema/<n>.json``, created once, never changed.

Writers find the latest schema by listing (readers never need to: each format 2 manifest
carries the schema its parts were written against). A schema is created with overwrite
forbidden, so two writers racing to create schema ``n`` agree: one wins, the other reads it.
"""

from __future__ import annotations

from dataclasses import replace

from lake import layout
from lake.fileio import FileIO
from schemas.errors import AlreadyExistsError, ManifestError
from schemas.keys import KeySchema
from schemas.table_schema import (
    DEFAULT_SCALE,
    AttributeStats,
    TableSchema,
    empty_schema,
    evolve,
    parse_table_schema,
)

_ATTEMPTS = 8


def schema_key(table: str, schema_id: int) -> str:
    return layout.table_schema(table, schema_id)


def load_schema(io: FileIO, table: str, schema_id: int) -> TableSchema:
    key = schema_key(table, schema_id)
    schema = parse_table_schema(io.read(key), what=io.full_uri(key))
    if schema.schema_id != schema_id or schema.table != table:
        raise ManifestError(f"{io.full_uri(key)} holds schema {schema.schema_id} of "
                            f"{schema.table!r}, not schema {schema_id} of {table!r}")
    return schema


def latest_schema(io: FileIO, table: str) -> TableSchema | None:
    """The table's newest schema, or None when it has none yet."""
    prefix = layout.table_schemas_prefix(table)
    ids = []
    for info in io.iter_objects(prefix):
        name = info.key[len(prefix):]
        if name.endswith(".json") and name[:-5].isdigit() and len(name) == 13:
            ids.append(int(name[:-5]))
    return load_schema(io, table, max(ids)) if ids else None


def create_schema(io: FileIO, schema: TableSchema) -> bool:
    """Store ``schema``; False when that schema id exists already (another writer won)."""
    try:
        io.create(schema_key(schema.table, schema.schema_id), schema.to_bytes())
    except AlreadyExistsError:
        return False
    return True


def first_schema(io: FileIO, table: str, keys: KeySchema, stats: AttributeStats,
                 *, number_scale: int = DEFAULT_SCALE) -> TableSchema:
    """The schema a new table's first part is written against: the stored one if any
    (another worker created it first), else schema 1 from ``stats`` (stored even when it
    has no attribute column, so every part of the snapshot uses it)."""
    empty = empty_schema(table, keys, number_scale)
    for _ in range(_ATTEMPTS):
        latest = latest_schema(io, table)
        if latest is not None:
            return latest
        proposed = evolve(empty, stats) or replace(empty, schema_id=1)
        if create_schema(io, proposed):
            return proposed
    raise AlreadyExistsError(f"schema 1 of {table} could not be created nor read",
                             hint="check the lake's permissions, then retry")


def evolve_schema(io: FileIO, schema: TableSchema, stats: AttributeStats) -> TableSchema:
    """The latest schema after adding columns for ``stats`` (a committed snapshot's new
    attributes); retried against the newest schema when another writer added one first."""
    for _ in range(_ATTEMPTS):
        latest = latest_schema(io, schema.table) or schema
        proposed = evolve(latest, stats)
        if proposed is None:
            return latest
        if create_schema(io, proposed):
            return proposed
    raise AlreadyExistsError(f"schema of {schema.table} kept changing while adding columns",
                             hint="another export of the same table is running; retry")
