"""Which items a restore writes: a selection from the lake, narrowed by ``--where`` and
``--keys``, counted, sampled and spooled into units.

The selection SQL (a snapshot, the table as of a time, items deleted or changed in a
window) yields a column ``_item`` (canonical DynamoDB JSON, wire form) among others. It reads
only local copies of the parts it needs, each checked against its manifest's size and sha256
first (:mod:`lake.verified`), and runs in the sandboxed DuckDB connection, which therefore
holds no S3 access and no credentials, wrapped as::

    SELECT _item FROM (<selection>) AS s [SEMI JOIN keys ON key = key] WHERE <predicate>

Key values compare by DynamoDB value (``N`` keys through :func:`normalize_number`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from lake import catalog
from lake.archive import require_readable
from lake.fileio import FileIO
from lake.progress import ProgressListener
from lake.verified import VerifiedLake
from queries import selections, timeline
from queries.sandbox import check_predicate, run_user_sql, sandboxed_connection
from queries.selections import Selection
from queries.sqltext import parse_time, to_us
from restorer.config import RestoreConfig
from schemas.dynamo_json import normalize_number
from schemas.errors import DdbLakeError, UsageError
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Manifest

KEYS_VIEW = "_ddblake_keys"


@dataclass(frozen=True)
class Source:
    """The resolved source: the manifest that describes the table, and the selection, which
    reads only the verified local copies in ``lake`` (removed by :meth:`close`)."""

    manifest: Manifest
    selection: Selection
    label: str
    lake: VerifiedLake | None = None

    def close(self) -> None:
        if self.lake is not None:
            self.lake.close()


def check_not_archived(io: FileIO, manifest: Manifest) -> None:
    """Refuse a snapshot whose parts sit in a cold storage class and are not thawed
    (ArchivedError, exit 6, with a hint naming `ddblake thaw`)."""
    require_readable(io, manifest)


def _describing(io: FileIO, table: str, ts: datetime) -> Manifest:
    """The snapshot that describes the table at ``ts`` (key schema, table description):
    the base snapshot of that time, else the latest."""
    return timeline.base_snapshot(io, table, to_us(ts)) or \
        catalog.find_snapshot(io, "latest", table)


def resolve_source(io: FileIO, config: RestoreConfig, *,
                   listener: ProgressListener | None = None) -> Source:
    """The selection the config asks for, and the manifest that describes the table.

    Every part the selection reads (snapshot parts, change-batch parts) is first fetched into
    a local folder and checked against the size and sha256 its manifest records
    (:mod:`lake.verified`): CorruptDataError (exit 4) or MissingDataError (exit 5) name the
    part otherwise. The selection then reads only those local files, so the connection that
    runs it (and the user's filter) needs no S3 access and no credentials."""
    lake = VerifiedLake(io)
    try:
        manifest, selection, label = _select(lake, io, config)
        lake.fetch(listener)
        lake.require_verified(selection.paths)
        if selection.setup:
            raise DdbLakeError("the selection needs setup statements to read the lake",
                               hint="report this as a bug of ddblake")
    except BaseException:
        lake.close()
        raise
    return Source(manifest, selection, label, lake)


def _select(lake: FileIO, io: FileIO, config: RestoreConfig) -> tuple[Manifest, Selection, str]:
    """The selection over the view ``lake``; archive checks against the lake ``io`` itself."""
    if not (config.as_of or config.deleted_between or config.changed_between):
        manifest = catalog.find_snapshot(lake, config.snapshot, config.table)
        check_not_archived(io, manifest)
        return (manifest, selections.snapshot_selection(lake, manifest),
                f"snapshot {manifest.snapshot_id}")
    table = catalog.single_table(lake, config.table)
    if config.as_of:
        ts = parse_time(config.as_of, what="--as-of")
        manifest, label = _describing(lake, table, ts), f"as of {config.as_of}"
        selection = selections.as_of_selection(lake, table, ts)
    else:
        window = config.deleted_between or config.changed_between
        assert window is not None
        t1 = parse_time(window[0], what="T1")
        t2 = parse_time(window[1], what="T2")
        manifest = _describing(lake, table, t1)
        if config.deleted_between:
            selection = selections.deleted_between_selection(lake, table, t1, t2)
            label = f"deleted between {window[0]} and {window[1]}"
        else:
            selection = selections.changed_between_selection(lake, table, t1, t2)
            label = f"changed between {window[0]} and {window[1]} (versions before)"
    check_not_archived(io, manifest)
    if selection.note:
        label += f" ({selection.note})"
    return manifest, selection, label


def _value_sql(name: str, tag: str) -> str:
    """SQL for the text under type ``tag`` of top-level attribute ``name`` of ``_item``
    (NULL when it is absent or of another type)."""
    quoted = name.replace("\\", "\\\\").replace('"', '\\"').replace("'", "''")
    return f"json_extract_string(_item, '$.\"{quoted}\".{tag}')"


def key_text_sql(attr: KeyAttribute) -> str:
    """SQL for a key attribute's comparable text taken from ``_item``."""
    text = _value_sql(attr.name, attr.type)
    return f"ddblake_norm({text})" if attr.type == "N" else text


def ttl_text_sql(name: str) -> str:
    """SQL for the ``N`` text of a (TTL) attribute, NULL when absent or not a number."""
    return _value_sql(name, "N")


def _plain(value: Any, attr: KeyAttribute, where: str) -> str:
    if isinstance(value, dict):
        if len(value) != 1 or attr.type not in value:
            raise UsageError(f"{where}: key {attr.name} must be of type {attr.type}, "
                             f"got {value!r}")
        value = value[attr.type]
    if value is None or value == "":
        raise UsageError(f"{where}: key {attr.name} is missing")
    text = str(value)
    if attr.type == "N":
        try:
            return normalize_number(text)
        except ArithmeticError as e:
            raise UsageError(f"{where}: {text!r} is not a number") from e
    return text


def load_keys(path: str, keys: KeySchema) -> pa.Table:
    """A keys file: CSV with a header naming the key attributes, or JSON lines with plain or
    DynamoDB-typed values (``{"id": "a"}`` or ``{"id": {"S": "a"}}``). B keys in base64."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"keys file {path} does not exist")
    rows: list[dict[str, Any]]
    with open(file, encoding="utf-8", newline="") as f:
        first = f.read(1)
        f.seek(0)
        if first in ("{", "["):
            rows = [json.loads(line, parse_float=str, parse_int=str) for line in f if line.strip()]
        else:
            rows = list(csv.DictReader(f))
    columns: dict[str, list[str]] = {f"k{i}": [] for i in range(len(keys.attributes))}
    for n, row in enumerate(rows, 1):
        for i, attr in enumerate(keys.attributes):
            if not isinstance(row, dict) or attr.name not in row:
                raise UsageError(f"{path} line {n}: no key attribute {attr.name!r}",
                                 hint=f"the key is {', '.join(keys.names)}")
            columns[f"k{i}"].append(_plain(row[attr.name], attr, f"{path} line {n}"))
    return pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})


def _norm_or_none(text: str | None) -> str | None:
    """A number's normalized text; NULL for NULL or for text that is not a number (such an
    item then fails validation in the writer and becomes a dead letter)."""
    if text is None:
        return None
    try:
        return normalize_number(text)
    except (ArithmeticError, ValueError):
        return None


def add_functions(con: Any) -> None:
    """The SQL functions the restore's queries use (``ddblake_norm``)."""
    con.create_function("ddblake_norm", _norm_or_none, ["VARCHAR"], "VARCHAR",
                        null_handling="special")


class Query:
    """The wrapped selection on a sandboxed connection: count, sample, stream."""

    def __init__(self, source: Source, config: RestoreConfig) -> None:
        keys = source.manifest.key_schema
        self.keys = keys
        # Units make row order irrelevant; letting DuckDB drop it keeps its memory bounded.
        # No lake setup (httpfs, secrets): the selection reads verified local copies only.
        setup = ["SET preserve_insertion_order = false", "SET memory_limit = '512MB'"]
        self.con = sandboxed_connection(list(source.selection.paths), setup_sql=setup)
        add_functions(self.con)
        sql = f"SELECT s._item FROM ({source.selection.sql}) AS s"
        if config.keys_file:
            self.con.register(KEYS_VIEW, load_keys(config.keys_file, keys))
            on = " AND ".join(f"{key_text_sql(a)} = k.k{i}" for i, a in enumerate(keys.attributes))
            sql += f" SEMI JOIN {KEYS_VIEW} AS k ON {on}"
        if config.where:
            sql += f" WHERE ({check_predicate(config.where)})"
        self.sql = sql

    def close(self) -> None:
        self.con.close()

    def count(self) -> tuple[int, str]:
        """How many rows, and a fingerprint of their content (to recognise them on resume)."""
        row = run_user_sql(self.con, f"SELECT count(*), coalesce(sum(hash(_item)), 0)::VARCHAR "
                                     f"FROM ({self.sql}) AS q").fetchone()
        assert row is not None
        return int(row[0]), str(row[1])

    def sample(self, n: int) -> list[str]:
        rows = run_user_sql(self.con, f"SELECT _item::VARCHAR FROM ({self.sql}) AS q "
                                      f"LIMIT {int(n)}").fetchall()
        return [str(r[0]) for r in rows]

    def batches(self, units: int, rows: int = 8_192,
                ttl_attribute: str | None = None) -> Iterator[pa.RecordBatch]:
        """Rows as (``_item`` text, ``_unit``, the key values ``_k0``, ``_k1`` as compared by
        DynamoDB value (see :func:`key_text_sql`), and with ``ttl_attribute`` its ``N`` text
        ``_ttl``): the unit is a hash of the key, so every version of a key lands in the same
        unit and units are the same on every run."""
        names = [f"_k{i}" for i in range(len(self.keys.attributes))]
        columns = ", ".join(f"{key_text_sql(a)} AS {n}"
                            for a, n in zip(self.keys.attributes, names, strict=True))
        if ttl_attribute:
            columns += f", {ttl_text_sql(ttl_attribute)} AS _ttl"
        sql = (f"SELECT _item, (hash({', '.join(names)}) % {int(units)})::INTEGER AS _unit, "
               f"* EXCLUDE (_item) FROM (SELECT _item::VARCHAR AS _item, {columns} "
               f"FROM ({self.sql}) AS q) AS r")
        relation = run_user_sql(self.con, sql)
        yield from relation.to_arrow_reader(rows)
