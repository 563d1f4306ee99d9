"""The SQL that sets up the lake's views and table macros in any DuckDB.

Public names (see ``docs/query.md``):

- ``snapshots``: the catalog, one row per committed snapshot of every table;
- ``items``: the latest snapshot of the default table (``--table``, or the lake's only one);
- ``changes``: the default table's change log, with ``_event_time``;
- ``snapshot_items(id[, tbl])``, ``diff(a, b[, tbl])``: one snapshot, or what changed between
  two (added / removed / changed, with old and new images);
- ``as_of(tbl, ts)``: a table as it was at ``ts`` (base snapshot + change log);
- ``history(tbl, pk)``: every version of the items with partition key ``pk``.

Internal per-table views are named ``_snap_items__<HEX>`` (every snapshot, with
``_snapshot_id``; ``_sk`` is NULL when the table has no sort key) and
``_change_rows__<HEX>`` (change records with their image's typed columns), where ``<HEX>`` is
the table name's UTF-8 bytes in upper-case hex (SQL: ``hex(tbl)``): DuckDB identifiers are
case-insensitive and ``query_table`` reads a dot as schema.table, while DynamoDB table names
may hold dots and differ only in case.
"""

from __future__ import annotations

from dataclasses import dataclass

from lake import catalog, layout
from lake.fileio import FileIO
from queries.access import lake_access
from queries.selections import columns_of, image_sql, snapshot_paths, snapshot_sql
from queries.sqltext import ident, literal, read_parquet
from queries.timeline import point_us
from schemas.errors import ManifestError
from schemas.keys import KeySchema
from schemas.manifest import Manifest

_KEY_DUCK = {"S": "VARCHAR", "N": "VARCHAR", "B": "BLOB"}


@dataclass(frozen=True)
class TableViews:
    table: str
    manifests: list[Manifest]
    change_paths: list[str]
    keys: KeySchema
    damaged: tuple[catalog.DamagedSnapshot, ...] = ()


def _snapshot_rows(manifests: list[Manifest]) -> str:
    cols = ("CAST(NULL AS VARCHAR) AS \"table\", CAST(NULL AS VARCHAR) AS snapshot_id, "
            "CAST(NULL AS VARCHAR) AS consistency, CAST(NULL AS TIMESTAMPTZ) AS point_time, "
            "CAST(NULL AS TIMESTAMPTZ) AS window_start, CAST(NULL AS BIGINT) AS items, "
            "CAST(NULL AS BIGINT) AS bytes, CAST(NULL AS INTEGER) AS parts, "
            "CAST(NULL AS VARCHAR) AS method, CAST(NULL AS TIMESTAMPTZ) AS created_at, "
            "CAST(NULL AS BIGINT) AS point_us, CAST(NULL AS BIGINT) AS replay_from_us, "
            "CAST(NULL AS BOOLEAN) AS replay_inclusive, CAST(NULL AS VARCHAR) AS ttl_attribute")
    rows = [f"SELECT {cols} WHERE false"]
    for m in manifests:
        fuzzy = m.consistency.kind == "fuzzy"
        start_us = point_us(m) if not fuzzy else _iso_us(m.consistency.start)
        rows.append(
            f"SELECT {literal(m.table)}, {literal(m.snapshot_id)}, "
            f"{literal(m.consistency.kind)}, CAST({literal(m.consistency.end)} AS TIMESTAMPTZ),"
            f" CAST({literal(m.consistency.start)} AS TIMESTAMPTZ), {m.totals.items}, "
            f"{m.totals.bytes}, {len(m.parts)}, {literal(m.source.method)}, "
            f"CAST({literal(m.created_at)} AS TIMESTAMPTZ), {point_us(m)}, {start_us}, "
            f"{'true' if fuzzy else 'false'}, {_ttl(m)}")
    return " UNION ALL ".join(rows)


def _ttl(manifest: Manifest) -> str:
    ttl = manifest.table_description.get("TimeToLiveDescription") or {}
    name = ttl.get("AttributeName") if ttl.get("TimeToLiveStatus", "ENABLED") in (
        "ENABLED", "ENABLING") else None
    return literal(name) if name else "NULL"


def _iso_us(text: str) -> int:
    from queries.sqltext import iso_to_us

    return iso_to_us(text)


def _with_sk(sql: str, keys: KeySchema) -> str:
    return sql if keys.sort is not None else f"SELECT *, CAST(NULL AS VARCHAR) AS _sk FROM ({sql})"


def view_name(kind: str, table: str) -> str:
    """The internal view ``kind`` (``_snap_items`` or ``_change_rows``) of ``table``; the
    macros find it with ``kind || '__' || hex(tbl)``."""
    return f"{kind}__{table.encode('utf-8').hex().upper()}"


def table_views(io: FileIO, table: str, notes: list[str] | None = None) -> TableViews:
    """A table's readable snapshots and change parts; a damaged snapshot is skipped, with a
    line in ``notes``."""
    found = catalog.read_snapshots(io, table)
    if notes is not None:
        notes += found.notes()
    manifests = found.manifests
    batches = catalog.list_change_batches(io, table)
    if not manifests and not batches and found.damaged:
        raise found.damaged[-1].error  # nothing of this table can be read
    access = lake_access(io)
    paths = [access.path(layout.table_key(table, p.path)) for b in batches for p in b.parts]
    keys = manifests[-1].key_schema if manifests else batches[0].key_schema
    return TableViews(table, manifests, paths, keys, tuple(found.damaged))


def _snap_items_sql(io: FileIO, tv: TableViews) -> str:
    branches = []
    for m in tv.manifests:
        body = snapshot_sql(snapshot_paths(io, m), m)
        branches.append(f"SELECT {literal(m.snapshot_id)} AS _snapshot_id, * FROM ({body})")
    if not branches:
        branches.append("SELECT CAST(NULL AS VARCHAR) AS _snapshot_id, * FROM "
                        f"({_empty_keys(tv.keys)})")
    return _with_sk(" UNION ALL BY NAME ".join(branches), tv.keys)


def _empty_keys(keys: KeySchema) -> str:
    cols = ["CAST(NULL AS JSON) AS _item", "CAST(NULL AS BIGINT) AS _item_hash",
            "CAST(NULL AS VARCHAR) AS _item_sha256",
            f"CAST(NULL AS {_KEY_DUCK[keys.partition.type]}) AS _pk"]
    if keys.sort is not None:
        cols.append(f"CAST(NULL AS {_KEY_DUCK[keys.sort.type]}) AS _sk")
    return f"SELECT {', '.join(cols)} WHERE false"


def _change_rows_sql(tv: TableViews) -> str:
    columns = columns_of(tv.manifests[-1] if tv.manifests else None)
    meta = ["_event_us", "_seq", "_op", "_old", "_ttl", "_source"]
    if tv.change_paths:
        source = read_parquet(tv.change_paths)
    else:
        source = (f"(SELECT {_EMPTY_CHANGE}, * FROM ({_empty_keys(tv.keys)}) "
                  "CROSS JOIN (SELECT CAST(NULL AS JSON) AS _new, "
                  "CAST(NULL AS VARCHAR) AS _new_sha256) WHERE false)")
    images = image_sql("_new", tv.keys, columns, source, sha="_new_sha256")
    images = images.replace("SELECT ", f"SELECT {', '.join(meta)}, ", 1)
    return _with_sk(images, tv.keys)


_EMPTY_CHANGE = ("CAST(NULL AS BIGINT) AS _event_us, CAST(NULL AS VARCHAR) AS _seq, "
                 "CAST(NULL AS VARCHAR) AS _op, CAST(NULL AS JSON) AS _old, "
                 "CAST(NULL AS BOOLEAN) AS _ttl, CAST(NULL AS VARCHAR) AS _source")


def table_statements(io: FileIO, tv: TableViews) -> list[str]:
    name = tv.table
    return [f"CREATE OR REPLACE VIEW {ident(view_name('_snap_items', name))} AS "
            f"{_snap_items_sql(io, tv)}",
            f"CREATE OR REPLACE VIEW {ident(view_name('_change_rows', name))} AS "
            f"{_change_rows_sql(tv)}"]


MACROS = [
    """CREATE OR REPLACE MACRO snapshot_items(id, tbl := {default}) AS TABLE
SELECT * EXCLUDE (_snapshot_id) FROM query_table('_snap_items__' || hex(tbl))
WHERE _snapshot_id = id""",
    """CREATE OR REPLACE MACRO diff(a, b, tbl := {default}) AS TABLE
SELECT CASE WHEN o._pk IS NULL THEN 'added' WHEN n._pk IS NULL THEN 'removed'
            ELSE 'changed' END AS _change,
       coalesce(n._pk, o._pk) AS _pk, coalesce(n._sk, o._sk) AS _sk,
       o._item AS _old, n._item AS _new
FROM (SELECT * FROM query_table('_snap_items__' || hex(tbl)) WHERE _snapshot_id = a) o
FULL OUTER JOIN (SELECT * FROM query_table('_snap_items__' || hex(tbl)) WHERE _snapshot_id = b) n
  ON o._pk = n._pk AND o._sk IS NOT DISTINCT FROM n._sk
WHERE o._item_hash IS DISTINCT FROM n._item_hash""",
    """CREATE OR REPLACE MACRO as_of(tbl, ts) AS TABLE
WITH _t AS (SELECT epoch_us(CAST(ts AS TIMESTAMPTZ)) AS ts_us),
_b AS (SELECT snapshot_id, replay_from_us, replay_inclusive FROM snapshots
       WHERE "table" = tbl AND point_us <= (SELECT ts_us FROM _t)
       ORDER BY point_us DESC, snapshot_id DESC LIMIT 1),
_base AS (SELECT * EXCLUDE (_snapshot_id) FROM query_table('_snap_items__' || hex(tbl))
          WHERE _snapshot_id = (SELECT snapshot_id FROM _b)),
_ch AS (SELECT * FROM query_table('_change_rows__' || hex(tbl))
        WHERE _event_us <= (SELECT ts_us FROM _t)
          AND (NOT EXISTS (SELECT 1 FROM _b)
               OR _event_us > (SELECT replay_from_us FROM _b)
               OR (_event_us = (SELECT replay_from_us FROM _b)
                   AND (SELECT replay_inclusive FROM _b)))
        QUALIFY row_number() OVER (PARTITION BY _pk, _sk
                                   ORDER BY _event_us DESC, _seq DESC) = 1)
SELECT _base.* FROM _base ANTI JOIN _ch
  ON _base._pk = _ch._pk AND _base._sk IS NOT DISTINCT FROM _ch._sk
UNION ALL BY NAME
SELECT * EXCLUDE (_event_us, _seq, _op, _old, _ttl, _source) FROM _ch WHERE _op <> 'REMOVE'""",
    """CREATE OR REPLACE MACRO history(tbl, pk) AS TABLE
SELECT * FROM (
  SELECT s.point_time AS _when, 'snapshot ' || i._snapshot_id AS _source, NULL AS _op,
         i._pk, i._sk, i._item
  FROM query_table('_snap_items__' || hex(tbl)) i JOIN snapshots s
    ON s.snapshot_id = i._snapshot_id AND s."table" = tbl
  WHERE i._pk = pk
  UNION ALL
  SELECT make_timestamptz(_event_us), 'change', _op, _pk, _sk,
         coalesce(_item, _old)
  FROM query_table('_change_rows__' || hex(tbl)) WHERE _pk = pk)
ORDER BY _when, _source""",
]


def setup_statements(io: FileIO, default_table: str | None = None,
                     notes: list[str] | None = None, *, items: bool = True) -> list[str]:
    """Every statement (after the lake's access setup) that creates the views and macros
    (damaged snapshots are skipped, each with a line in ``notes``); ``items`` False leaves
    out the default table's ``items`` and ``changes`` (the caller points them elsewhere)."""
    statements = ["SET TimeZone = 'UTC'"]
    views = {}
    for t in catalog.list_tables(io):
        try:
            views[t] = table_views(io, t, notes)
        except ManifestError as e:
            if t == default_table:
                raise
            if notes is not None:
                notes.append(f"table {t} was skipped: {e.message}")
    manifests = [m for tv in views.values() for m in tv.manifests]
    statements.append(f"CREATE OR REPLACE VIEW snapshots AS {_snapshot_rows(manifests)}")
    for tv in views.values():
        statements += table_statements(io, tv)
    default = literal(default_table) if default_table else "NULL"
    statements += [m.replace("{default}", default) for m in MACROS]
    if default_table and default_table in views and items:
        statements += default_views(io, views[default_table])
    return statements


def default_views(io: FileIO, tv: TableViews, items_sql: str | None = None) -> list[str]:
    """``items`` (the latest snapshot, or ``items_sql``) and ``changes`` of one table."""
    if items_sql is None:
        newest = max((d.snapshot_id for d in tv.damaged), default="")
        if newest > max((m.snapshot_id for m in tv.manifests), default=""):
            damaged = next(d for d in tv.damaged if d.snapshot_id == newest)
            raise type(damaged.error)(
                f"the latest snapshot of {tv.table} is damaged: {damaged.error.message}",
                hint="point `items` at an older snapshot with --snapshot ID (see `ddblake "
                     "snapshots`), and run `ddblake verify` on the damaged one")
        latest = max(tv.manifests, key=lambda m: (point_us(m), m.snapshot_id), default=None)
        items_sql = snapshot_sql(snapshot_paths(io, latest), latest) if latest else \
            _empty_keys(tv.keys)
    return [f"CREATE OR REPLACE VIEW items AS {items_sql}",
            f"CREATE OR REPLACE VIEW changes AS SELECT make_timestamptz(_event_us) AS "
            f"_event_time, * FROM {ident(view_name('_change_rows', tv.table))}"]
