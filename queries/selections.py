"""Selections: DuckDB SELECTs over the lake that pick a table's items at some point in time.

A :class:`Selection` yields at least ``_item`` (JSON), ``_item_hash`` (the first 8 bytes of
the item's sha256: equal for equal items in every format and from every source),
``_item_sha256`` (format 1 and change rows only), ``_pk`` (and ``_sk``) plus the typed columns
of the snapshot it starts from. It also names every file it reads
(for the sandbox's ``allowed_paths``) and the statements to run first (``LOAD httpfs``,
``CREATE SECRET``). The restorer runs ``SELECT _item FROM (<sql>) WHERE <filter>`` in
:func:`queries.sandbox.sandboxed_connection`.

Time travel (issue 6): ``as_of(table, ts)`` = the base snapshot (latest whose consistency
point, ``consistency.end``, is at or before ts) plus change records from the base's
consistency start (fuzzy scans) or after its end (exact snapshots) up to ts inclusive,
latest change per key (``_event_us`` then ``_seq``); REMOVE drops the key, otherwise the
change's new image replaces the item. Without a change log it is the base snapshot, and
``note`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lake import catalog, layout
from lake.archive import require_readable
from lake.fileio import FileIO
from queries import format2sql, timeline
from queries.access import lake_access
from queries.sqltext import (
    cast_column,
    ident,
    json_column,
    read_parquet,
    to_us,
    typed_columns,
    us_to_iso,
)
from schemas.errors import NotFoundError
from schemas.keys import KeySchema
from schemas.manifest import Manifest
from schemas.table_schema import TableSchema

_KEY_DUCK = {"S": "VARCHAR", "N": "VARCHAR", "B": "BLOB"}


@dataclass(frozen=True)
class Selection:
    sql: str
    paths: list[str]
    setup: list[str]
    note: str | None = None


def key_columns(keys: KeySchema) -> list[str]:
    return ["_pk"] if keys.sort is None else ["_pk", "_sk"]


def key_match(a: str, b: str, keys: KeySchema) -> str:
    return " AND ".join(f"{a}.{c} = {b}.{c}" for c in key_columns(keys))


Columns = list[tuple[str, str]] | TableSchema  # format 1: (name, DuckDB type); format 2


def columns_of(manifest: Manifest | None) -> Columns:
    """The typed columns a snapshot's rows have (and change images are given)."""
    if manifest is None:
        return []
    return manifest.table_schema or typed_columns(manifest.columns)


def _typed_list(columns: Columns) -> list[tuple[str, str]]:
    if not isinstance(columns, TableSchema):
        return columns
    keys = [(name, "VARCHAR" if key_type == "S" else "BLOB" if key_type == "B"
             else f"DECIMAL(38, {columns.number_scale})")
            for _, name, key_type in columns.key_columns()]
    return keys + [(c.name, format2sql.duck_type(c, columns)) for c in columns.columns]


def _empty_sql(keys: KeySchema, columns: Columns) -> str:
    cols = ["CAST(NULL AS JSON) AS _item", "CAST(NULL AS BIGINT) AS _item_hash",
            "CAST(NULL AS VARCHAR) AS _item_sha256",
            f"CAST(NULL AS {_KEY_DUCK[keys.partition.type]}) AS _pk"]
    if keys.sort is not None:
        cols.append(f"CAST(NULL AS {_KEY_DUCK[keys.sort.type]}) AS _sk")
    cols += [f"CAST(NULL AS {duck}) AS {ident(name)}" for name, duck in _typed_list(columns)]
    return f"SELECT {', '.join(cols)} WHERE false"


def snapshot_sql(paths: list[str], manifest: Manifest) -> str:
    """The rows of one snapshot with its typed columns: format 2 parts as they are (one
    type per table), format 1 parts cast to the manifest's reconciled types."""
    columns = columns_of(manifest)
    if not paths:
        return _empty_sql(manifest.key_schema, columns)
    if isinstance(columns, TableSchema):
        cols = format2sql.snapshot_columns(columns)
    else:
        cols = ["CAST(_item AS JSON) AS _item",
                f"{format2sql.hash_from_hex('_item_sha256')} AS _item_hash", "_item_sha256",
                *key_columns(manifest.key_schema)]
        cols += [cast_column(name, duck) for name, duck in columns]
    return f"SELECT {', '.join(cols)} FROM {read_parquet(paths)}"


def snapshot_paths(io: FileIO, manifest: Manifest) -> list[str]:
    access = lake_access(io)
    return [access.path(layout.snapshot_part(manifest.table, manifest.snapshot_id, p.path))
            for p in manifest.parts]


def snapshot_selection(io: FileIO, manifest: Manifest) -> Selection:
    """Every item of one committed snapshot (ArchivedError if it is in cold storage)."""
    require_readable(io, manifest)
    paths = snapshot_paths(io, manifest)
    return Selection(snapshot_sql(paths, manifest), paths, list(lake_access(io).setup))


def image_sql(image: str, keys: KeySchema, columns: Columns, source: str,
              *, sha: str | None = None, item_hash: str | None = None) -> str:
    """Rows from JSON images (change records): spine, keys, typed columns from the JSON.
    ``_item_hash`` is ``item_hash`` when given, else taken from ``sha``."""
    sha_expr = sha or f"sha256(CAST({image} AS VARCHAR))"
    cols = [f"CAST({image} AS JSON) AS _item",
            f"{item_hash or format2sql.hash_from_hex(sha_expr)} AS _item_hash",
            f"{sha_expr} AS _item_sha256", *key_columns(keys)]
    if isinstance(columns, TableSchema):
        cols += format2sql.image_columns(image, columns)
    else:
        cols += [json_column(image, name, duck) for name, duck in columns]
    return f"SELECT {', '.join(cols)} FROM {source}"


def _changes_cte(paths: list[str], keys: KeySchema, from_us: int, to_us_: int,
                 *, from_inclusive: bool) -> str:
    low = ">=" if from_inclusive else ">"
    cols = ", ".join([*key_columns(keys), "_op", "_new", "_old", "_new_sha256", "_event_us",
                      "_seq"])
    return (f"SELECT {cols} FROM {read_parquet(paths)} "
            f"WHERE _event_us {low} {from_us} AND _event_us <= {to_us_}")


def _latest(source: str, keys: KeySchema) -> str:
    part = ", ".join(key_columns(keys))
    return (f"SELECT * FROM {source} QUALIFY row_number() OVER "
            f"(PARTITION BY {part} ORDER BY _event_us DESC, _seq DESC) = 1")


def replay_sql(base_sql: str, change_paths: list[str], keys: KeySchema,
               columns: Columns, from_us: int, ts_us: int, *,
               from_inclusive: bool) -> str:
    """Base rows overlaid with the latest change per key in the window."""
    if not change_paths:
        return base_sql
    changes = _changes_cte(change_paths, keys, from_us, ts_us, from_inclusive=from_inclusive)
    upserts = image_sql("_new", keys, columns, "_last WHERE _op <> 'REMOVE'", sha="_new_sha256")
    return (f"WITH _base AS ({base_sql}), _ch AS ({changes}), _last AS ({_latest('_ch', keys)}) "
            f"SELECT _base.* FROM _base ANTI JOIN _last ON {key_match('_base', '_last', keys)} "
            f"UNION ALL BY NAME {upserts}")


def as_of_selection(io: FileIO, table: str, ts: datetime) -> Selection:
    """The table's items as they were at ``ts`` (inclusive, to the microsecond)."""
    state = timeline.state_at(io, table, to_us(ts))
    return _state_selection(io, state)


def _state_selection(io: FileIO, state: timeline.State) -> Selection:
    access = lake_access(io)
    if state.base:
        require_readable(io, state.base)
    base_paths = snapshot_paths(io, state.base) if state.base else []
    columns = columns_of(state.base)
    base = snapshot_sql(base_paths, state.base) if state.base else _empty_sql(state.keys, [])
    change_paths = [access.path(k) for k in state.change_keys]
    sql = replay_sql(base, change_paths, state.keys, columns, state.from_us, state.ts_us,
                     from_inclusive=state.from_inclusive)
    return Selection(sql, base_paths + change_paths, list(access.setup), state.note)


def deleted_between_selection(io: FileIO, table: str, t1: datetime, t2: datetime) -> Selection:
    """The last image (before deletion) of every item deleted in (t1, t2]."""
    t1_us, t2_us = timeline.window(t1, t2)
    start = timeline.state_at(io, table, t1_us)
    if not timeline.has_changes(io, table):
        return _snapshot_compare(io, table, t1_us, t2_us, changed=False)
    at_t1 = _state_selection(io, start)
    keys = start.keys
    window_keys = timeline.change_keys(io, table, t1_us, t2_us)
    access = lake_access(io)
    wpaths = [access.path(k) for k in window_keys]
    if not wpaths:
        return _empty_selection(io, keys, start, at_t1, "no change records in the window")
    columns = columns_of(start.base)
    w = _changes_cte(wpaths, keys, t1_us, t2_us, from_inclusive=False)
    kc = key_columns(keys)
    order = "(_w._event_us, _w._seq) < (_r._event_us, _r._seq)"
    prior = (f"SELECT _w.* FROM _w JOIN _r ON {key_match('_w', '_r', keys)} "
             f"WHERE _w._op <> 'REMOVE' AND {order}")
    image = "coalesce(_r._old, _p._new, _a._item)"
    # The hash recorded for the image: an old image has none (hashed as read); a new
    # image's _new_sha256; a row of the state at t1 its _item_hash (its _item may be rebuilt).
    recorded = (f"CASE WHEN _r._old IS NOT NULL THEN "
                f"{format2sql.hash_from_hex('sha256(CAST(_r._old AS VARCHAR))')} "
                f"WHEN _p._new IS NOT NULL THEN {format2sql.hash_from_hex('_p._new_sha256')} "
                "ELSE _a._item_hash END")
    picked = (f"SELECT {image} AS _img, {recorded} AS _img_hash, "
              f"{', '.join(f'_r.{c}' for c in kc)} FROM _r "
              f"LEFT JOIN _p ON {key_match('_r', '_p', keys)} "
              f"LEFT JOIN _a ON {key_match('_r', '_a', keys)} WHERE {image} IS NOT NULL")
    sql = (f"WITH _w AS ({w}), _r AS ({_latest('_w', keys)} AND _op = 'REMOVE'), "
           f"_p AS ({_latest(f'({prior})', keys)}), _a AS ({at_t1.sql}), _d AS ({picked}) "
           f"{image_sql('_img', keys, columns, '_d', item_hash='_img_hash')}")
    return Selection(sql, _unique(at_t1.paths + wpaths), list(access.setup), at_t1.note)


def changed_between_selection(io: FileIO, table: str, t1: datetime, t2: datetime) -> Selection:
    """For every item modified or deleted in (t1, t2]: its version as of t1."""
    t1_us, t2_us = timeline.window(t1, t2)
    if not timeline.has_changes(io, table):
        return _snapshot_compare(io, table, t1_us, t2_us, changed=True)
    start = timeline.state_at(io, table, t1_us)
    at_t1 = _state_selection(io, start)
    access = lake_access(io)
    wpaths = [access.path(k) for k in timeline.change_keys(io, table, t1_us, t2_us)]
    if not wpaths:
        return _empty_selection(io, start.keys, start, at_t1, "no change records in the window")
    w = _changes_cte(wpaths, start.keys, t1_us, t2_us, from_inclusive=False)
    sql = (f"WITH _a AS ({at_t1.sql}), _w AS ({w}) "
           f"SELECT _a.* FROM _a SEMI JOIN _w ON {key_match('_a', '_w', start.keys)}")
    return Selection(sql, _unique(at_t1.paths + wpaths), list(access.setup), at_t1.note)


def _empty_selection(io: FileIO, keys: KeySchema, state: timeline.State, at_t1: Selection,
                     why: str) -> Selection:
    columns = columns_of(state.base)
    note = "; ".join(n for n in (at_t1.note, why) if n)
    return Selection(_empty_sql(keys, columns), [], list(lake_access(io).setup), note)


def _snapshot_compare(io: FileIO, table: str, t1_us: int, t2_us: int, *,
                      changed: bool) -> Selection:
    """Without a change log: compare the snapshots that hold the state at t1 and at t2."""
    first = timeline.base_snapshot(io, table, t1_us)
    second = timeline.base_snapshot(io, table, t2_us)
    if first is None or second is None:
        raise NotFoundError(f"table {table} has no snapshot at or before {us_to_iso(t1_us)}",
                            hint=f"list snapshots: ddblake snapshots --lake {io.uri}")
    a, b = snapshot_selection(io, first), snapshot_selection(io, second)
    keys = first.key_schema
    on = key_match("_a", "_b", keys) + (" AND _a._item_hash = _b._item_hash"
                                        if changed else "")
    sql = f"WITH _a AS ({a.sql}), _b AS ({b.sql}) SELECT _a.* FROM _a ANTI JOIN _b ON {on}"
    what = "changed or deleted" if changed else "deleted"
    note = (f"table {table} has no change log: items {what} between snapshot "
            f"{first.snapshot_id} (state at t1) and {second.snapshot_id} (state at t2); "
            "changes undone inside that interval are not seen")
    if first.snapshot_id == second.snapshot_id:
        note += " (both times fall on the same snapshot, so nothing is found)"
    return Selection(sql, _unique(a.paths + b.paths), list(lake_access(io).setup), note)


def _unique(paths: list[str]) -> list[str]:
    return list(dict.fromkeys(paths))


def latest_selection(io: FileIO, table: str | None = None) -> Selection:
    """The latest committed snapshot of ``table`` (or of the lake's only table)."""
    return snapshot_selection(io, catalog.find_snapshot(io, "latest", table))
