"""DuckDB SQL over format 2 parts (docs/decisions/005-lake-format-2.md).

- :func:`snapshot_columns`: the select list of a format 2 snapshot: ``_item`` rebuilt from
  the typed columns and ``_rest`` (JSON equal in value to the canonical item; the restorer
  checks what it writes against ``_item_hash``), ``_item_hash``, the keys, the key
  attributes under their own names, and every attribute column as it is stored (one type
  per table, so no cast is needed).
- :func:`image_columns`: the same attribute columns taken out of a change record's JSON image.
  A number becomes a decimal only when its text is the canonical rendering the snapshot's
  column would hold (DuckDB's ``TRY_CAST`` would round ``3.255`` to ``3.26``).
- :func:`hash_from_hex`: ``_item_hash`` of format 1 rows and change rows (the first 16 hex
  digits of their sha256, as a signed 64-bit number), so rows of every source compare.

All list functions use ``lambda x:`` (DuckDB 2.x no longer parses ``x -> ...``).
"""

from __future__ import annotations

import orjson

from queries.sqltext import ident, literal
from schemas.rowtext import number_pattern
from schemas.table_schema import REST, Column, TableSchema

_KEY_DUCK = {"S": "VARCHAR", "N": "VARCHAR", "B": "BLOB"}


def _decimal(schema: TableSchema) -> str:
    return f"DECIMAL(38, {schema.number_scale})"


def duck_type(column: Column, schema: TableSchema) -> str:
    return {"S": "VARCHAR", "N": _decimal(schema), "B": "BLOB", "BOOL": "BOOLEAN",
            "SS": "VARCHAR[]", "NS": _decimal(schema) + "[]", "BS": "BLOB[]",
            "json": "JSON"}[column.kind]


def _number_text(expr: str, scale: int) -> str:
    """The canonical text of a decimal (no trailing zeros)."""
    text = f"CAST({expr} AS VARCHAR)"
    return f"rtrim(rtrim({text}, '0'), '.')" if scale > 0 else text


def _json_of(kind: str, expr: str, scale: int) -> str:
    """SQL for the DynamoDB JSON text of a column value (NULL when the value is NULL)."""
    if kind == "json":
        return f"CAST({expr} AS VARCHAR)"
    if kind == "BOOL":
        return (f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN '{{\"BOOL\":true}}' "
                "ELSE '{\"BOOL\":false}' END")
    if kind in ("S", "NKEY"):
        inner = f"CAST(to_json({expr}) AS VARCHAR)"
    elif kind == "N":
        inner = f"CAST(to_json({_number_text(expr, scale)}) AS VARCHAR)"
    elif kind == "B":
        inner = f"CAST(to_json(to_base64({expr})) AS VARCHAR)"
    elif kind == "SS":
        inner = f"CAST(to_json({expr}) AS VARCHAR)"
    elif kind == "NS":
        inner = (f"CAST(to_json(list_transform({expr}, lambda x: "
                 f"{_number_text('x', scale)})) AS VARCHAR)")
    else:  # BS
        inner = f"CAST(to_json(list_transform({expr}, lambda x: to_base64(x))) AS VARCHAR)"
    tag = "N" if kind == "NKEY" else kind
    return f"'{{\"{tag}\":' || {inner} || '}}'"


def item_sql(schema: TableSchema) -> str:
    """``_item``: the item as JSON, from the key columns, the cells and ``_rest``, with its
    attributes in name order (the canonical text, but for control characters in strings,
    which DuckDB escapes with upper-case hex digits)."""
    fragments = []
    for column, name, key_type in schema.key_columns():
        kind = "NKEY" if key_type == "N" else key_type
        fragments.append((name, _json_of(kind, column, 0)))
    for c in schema.columns:
        fragments.append((c.name, _json_of(c.kind, ident(c.name), schema.number_scale)))
    parts = [f"{literal(orjson.dumps(name).decode('utf-8') + ':')} || {sql}"
             for name, sql in sorted(fragments)]
    cells = f"'{{' || concat_ws(',', {', '.join(parts)}) || '}}'"
    rest = ident(REST)
    merged = (f"CAST(to_json(map_from_entries(list_sort(map_entries(CAST(json_merge_patch("
              f"{cells}, {rest}) AS MAP(VARCHAR, JSON)))))) AS VARCHAR)")
    return f"CAST(CASE WHEN {rest} IS NULL THEN {cells} ELSE {merged} END AS JSON)"


def key_attribute_columns(schema: TableSchema) -> list[str]:
    """The key attributes under their own names (an N key as the table's decimal, when its
    text is one the decimal holds exactly)."""
    out = []
    for column, name, key_type in schema.key_columns():
        if key_type == "N":
            pattern = literal(number_pattern(schema.number_scale))
            out.append(f"CASE WHEN regexp_full_match({column}, {pattern}) THEN "
                       f"CAST({column} AS {_decimal(schema)}) END AS {ident(name)}")
        else:
            out.append(f"{column} AS {ident(name)}")
    return out


def snapshot_columns(schema: TableSchema) -> list[str]:
    """The select list of a format 2 snapshot's rows."""
    keys = [column for column, _, _ in schema.key_columns()]
    cols = [f"{item_sql(schema)} AS _item", "_item_hash",
            "CAST(NULL AS VARCHAR) AS _item_sha256", *keys]
    cols += key_attribute_columns(schema)
    cols += [f"CAST({ident(c.name)} AS JSON) AS {ident(c.name)}" if c.kind == "json"
             else ident(c.name) for c in schema.columns]
    return cols


def _path(name: str, tag: str | None = None) -> str:
    key = name.replace("\\", "\\\\").replace('"', '\\"')
    return literal(f'$."{key}"' + (f".{tag}" if tag else ""))


def _number_cast(text: str, schema: TableSchema) -> str:
    pattern = literal(number_pattern(schema.number_scale))
    return f"CASE WHEN regexp_full_match({text}, {pattern}) THEN CAST({text} AS " \
           f"{_decimal(schema)}) END"


def image_column(image: str, column: Column, schema: TableSchema) -> str:
    """One attribute column out of a JSON image (NULL when the image's value is of another
    type, or a number the column would not hold)."""
    name = column.name
    get = f"json_extract_string({image}, {_path(name, column.kind)})"
    if column.kind == "S":
        expr = get
    elif column.kind == "N":
        expr = _number_cast(get, schema)
    elif column.kind == "B":
        expr = f"from_base64({get})"
    elif column.kind == "BOOL":
        expr = f"CAST(json_extract({image}, {_path(name, 'BOOL')}) AS BOOLEAN)"
    elif column.kind == "json":
        expr = f"json_extract({image}, {_path(name)})"
    else:
        members = f"CAST(json_extract({image}, {_path(name, column.kind)}) AS VARCHAR[])"
        expr = _list_image(column.kind, members, schema)
    return f"{expr} AS {ident(name)}"


def _list_image(kind: str, members: str, schema: TableSchema) -> str:
    if kind == "SS":
        return members
    if kind == "BS":
        return f"list_transform({members}, lambda x: from_base64(x))"
    pattern = literal(number_pattern(schema.number_scale))
    every = f"list_bool_and(list_transform({members}, lambda x: regexp_full_match(x, {pattern})))"
    return (f"CASE WHEN coalesce({every}, true) THEN list_transform({members}, "
            f"lambda x: CAST(x AS {_decimal(schema)})) END")


def image_columns(image: str, schema: TableSchema) -> list[str]:
    """Key attribute and attribute columns of change images, as a snapshot has them."""
    out = []
    for column, name, key_type in schema.key_columns():
        if key_type == "N":
            out.append(f"{_number_cast(column, schema)} AS {ident(name)}")
        else:
            out.append(f"{column} AS {ident(name)}")
    return out + [image_column(image, c, schema) for c in schema.columns]


def hash_from_hex(expr: str) -> str:
    """``_item_hash`` from a hex sha256: its first 8 bytes as a signed 64-bit number."""
    unsigned = f"CAST(CAST('0x' || left({expr}, 16) AS UBIGINT) AS HUGEINT)"
    return (f"CAST({unsigned} - CASE WHEN left({expr}, 1) >= '8' "
            f"THEN CAST(18446744073709551616 AS HUGEINT) ELSE 0 END AS BIGINT)")


__all__ = ["duck_type", "hash_from_hex", "image_columns", "item_sql", "key_attribute_columns",
           "snapshot_columns"]
