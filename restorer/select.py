"""Which items a restore writes: a selection from the lake, narrowed by ``--keys`` and
``--where``, counted, sampled and spooled into units.

The selection SQL (a snapshot, the table as of a time, items deleted or changed in a
window) yields a column ``_item`` (canonical DynamoDB JSON, wire form) and ``_item_hash`` (the
hash the backup recorded for it, which the restore checks: :mod:`restorer.itemcheck`) among
others. It reads
only local copies of the parts it needs, each checked against its manifest's size and sha256
first (:mod:`lake.verified`), so no connection here holds S3 access or credentials. Two
DuckDB connections (:mod:`queries.sandbox`) share the work:


- the *reader* (sandboxed: only the selection's parts) runs only ddblake's SQL::

      SELECT s.*[, k._ddblake_key] FROM (<selection>) AS s [JOIN keys AS k ON key = key]

  (the keys file is Arrow data, :mod:`restorer.keysfile`);
- its rows stream as Arrow into the *isolated* connection, which holds nothing else and
  evaluates the ``--where`` filter (checked by :mod:`queries.predicate`, evaluated through
  DuckDB's relation API: the filter is one parsed expression, never spliced into a
  statement) and ddblake's counting and unit SQL on what the filter keeps.

Key values compare by DynamoDB value (``N`` keys through :func:`normalize_number`).

A unit that selects its own rows (:mod:`restorer.slices`) does the same in its own process:
:func:`slice_source` verifies only its parts, :class:`Query` takes the keys as Arrow data and
keeps only the unit's key-hash bucket; the driver plans from manifests alone
(:func:`plan_selection`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from lake import catalog, layout
from lake.archive import require_readable
from lake.fileio import FileIO
from lake.progress import ProgressListener
from lake.verified import VerifiedLake
from queries import selections, timeline
from queries.predicate import FilterError, RowFilter, compile_filter
from queries.sandbox import isolated_connection, reading_error, run_trusted, sandboxed_connection
from queries.selections import Selection
from queries.sqltext import ident, literal, parse_time, to_us
from restorer.config import RestoreConfig
from restorer.keysfile import KEY_ROW, load_keys
from schemas.dynamo_json import normalize_number
from schemas.errors import DdbLakeError, UsageError
from schemas.keys import KeyAttribute
from schemas.manifest import Manifest

KEYS_VIEW = "_ddblake_keys"
HASH = "_item_hash"
ROWS = 8_192
AS_SELECTED = "* REPLACE (CAST(_item AS JSON) AS _item)"  # Arrow carries JSON as text
T = TypeVar("T")


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
    return _resolve(io, config, listener=listener)


def _resolve(io: FileIO, config: RestoreConfig, *, listener: ProgressListener | None = None,
             only: frozenset[str] | None = None, planned: tuple[str, ...] | None = None,
             ) -> Source:
    lake = VerifiedLake(io)
    try:
        manifest, selection, label = _select(lake, io, config, only)
        if planned is not None and tuple(lake.resolved()) != planned:
            raise UsageError("the lake changed since this restore was planned: its selection "
                             "now reads other parts", hint="run the restore again")
        lake.fetch(listener)
        lake.require_verified(selection.paths)
        if selection.setup:
            raise DdbLakeError("the selection needs setup statements to read the lake",
                               hint="report this as a bug of ddblake")
    except BaseException:
        lake.close()
        raise
    return Source(manifest, selection, label, lake)


def windowed(config: RestoreConfig) -> bool:
    """Whether the selection replays a change log (as of a time, or a window)."""
    return bool(config.as_of or config.deleted_between or config.changed_between)


@dataclass(frozen=True)
class Planned:
    """What the driver knows before any part is fetched: the describing manifest, the label,
    and the lake keys of the parts the selection reads, with the rows each one holds."""

    manifest: Manifest
    label: str
    parts: dict[str, int]


def plan_selection(io: FileIO, config: RestoreConfig) -> Planned:
    """The selection's manifest and parts, from manifests alone (nothing is fetched)."""
    with VerifiedLake(io) as lake:
        manifest, _, label = _select(lake, io, config)
        return Planned(manifest, label, lake.resolved())


def slice_source(io: FileIO, config: RestoreConfig, *, only: frozenset[str] | None,
                 planned: tuple[str, ...]) -> Source:
    """A unit's own source: the parts ``only`` of the snapshot (None: every part of the
    selection), which must be the ``planned`` parts (UsageError when the lake changed
    since), fetched and verified into the unit's private folder."""
    return _resolve(io, config, only=only, planned=planned)


def _select(lake: FileIO, io: FileIO, config: RestoreConfig,
            only: frozenset[str] | None = None) -> tuple[Manifest, Selection, str]:
    """The selection over the view ``lake``; archive checks against the lake ``io`` itself.
    ``only`` (a snapshot selection): read only these parts (lake keys) of the snapshot."""
    if not windowed(config):
        manifest = catalog.find_snapshot(lake, config.snapshot, config.table)
        check_not_archived(io, manifest)
        read = manifest if only is None else replace(manifest, parts=tuple(
            p for p in manifest.parts
            if layout.snapshot_part(manifest.table, manifest.snapshot_id, p.path) in only))
        return (manifest, selections.snapshot_selection(lake, read),
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
    (NULL when it is absent or of another type). The attribute name comes from a manifest:
    it is a JSON pointer (RFC 6901: ``~`` and ``/`` escaped) in a string literal, so any
    name works (DuckDB's ``$."..."`` paths have no escape for ``"``)."""
    pointer = "/" + name.replace("~", "~0").replace("/", "~1") + "/" + tag
    return f"json_extract_string(_item, {literal(pointer)})"


def key_text_sql(attr: KeyAttribute) -> str:
    """SQL for a key attribute's comparable text taken from ``_item``."""
    text = _value_sql(attr.name, attr.type)
    return f"ddblake_norm({text})" if attr.type == "N" else text


def ttl_text_sql(name: str) -> str:
    """SQL for the ``N`` text of a (TTL) attribute, NULL when absent or not a number."""
    return _value_sql(name, "N")


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
    """The selection narrowed by ``--keys`` and ``--where``: count, sample, stream
    (see the module docstring for the two connections)."""

    def __init__(self, source: Source, config: RestoreConfig, *,
                 wanted: pa.Table | bool | None = True,
                 bucket: tuple[int, int] | None = None) -> None:
        """``wanted``: the keys file's keys (:func:`restorer.keysfile.load_keys`) as a unit
        carries them, True to load ``config.keys_file`` here. ``bucket`` (unit, units):
        keep only the rows whose key hashes to that unit (:meth:`batches`)."""
        keys = source.manifest.key_schema
        self.keys = keys
        self.bucket = bucket
        if wanted is True:
            wanted = load_keys(config.keys_file, keys) if config.keys_file else None
        assert wanted is not False
        self.keys_given: int | None = None if wanted is None else int(wanted.num_rows)
        self.keys_matched: int | None = None  # how many matched an item (set by count)
        # Units make row order irrelevant; letting DuckDB drop it keeps its memory bounded.
        # No lake setup (httpfs, secrets): the selection reads verified local copies only.
        setup = ["SET preserve_insertion_order = false", "SET memory_limit = '512MB'"]
        self.paths = list(source.selection.paths)
        self.con = sandboxed_connection(self.paths, setup_sql=setup)
        self.isolated = isolated_connection()
        self._read_error: BaseException | None = None
        try:
            add_functions(self.con)
            add_functions(self.isolated)
            self.sql = self._selected_sql(source.selection.sql, wanted)
            # What crosses to the isolated connection: _item and its recorded hash, the key
            # number, and the columns the filter refers to (binding it on them gives the same
            # expression).
            self._columns = ["_item", HASH] + ([KEY_ROW] if wanted is not None else [])
            self.filter = None if config.where is None else self._compile(config.where)
        except BaseException:
            self.close()
            raise

    def _selected_sql(self, selection_sql: str, wanted: pa.Table | None) -> str:
        """The reader's SQL: the selection, joined with the keys file's distinct keys."""
        if wanted is None:
            return f"SELECT s.* FROM ({selection_sql}) AS s"
        self.con.register(KEYS_VIEW, wanted)
        on = " AND ".join(f"{key_text_sql(a)} = k.k{i}"
                          for i, a in enumerate(self.keys.attributes))
        return (f"SELECT s.*, k.{KEY_ROW} FROM ({selection_sql}) AS s "
                f"JOIN {KEYS_VIEW} AS k ON {on}")

    def _compile(self, where: str) -> RowFilter:
        """The checked filter, bound against the selection's columns (no row is read)."""
        try:
            shape = run_trusted(self.con, self.sql, self.paths).limit(0).to_arrow_table().schema
        except duckdb.Error as e:
            raise reading_error(e, self.paths) from e
        rows = self.isolated.from_arrow(shape.empty_table()).project(AS_SELECTED)
        checked = compile_filter(where, self.isolated, rows)
        self._columns += [c for c in shape.names
                          if c.lower() in checked.names and c not in self._columns]
        return checked

    def close(self) -> None:
        self.isolated.close()
        self.con.close()

    def _rows(self) -> duckdb.DuckDBPyRelation:
        """The selected rows, read by the reader, as a relation of the isolated connection."""
        sql = f"SELECT {', '.join(map(ident, self._columns))} FROM ({self.sql}) AS q"
        source = run_trusted(self.con, sql, self.paths).to_arrow_reader(ROWS)
        self._read_error = None

        def guarded() -> Iterator[pa.RecordBatch]:
            try:
                yield from source
            except Exception as e:  # any reading failure; told apart from the filter's
                self._read_error = e
                raise

        stream = pa.RecordBatchReader.from_batches(source.schema, guarded())
        rows = self.isolated.from_arrow(stream).project(AS_SELECTED)
        if self.bucket is None:
            return rows
        unit, units = self.bucket
        return rows.filter(f"({self._unit_sql(units)}) = {int(unit)}")

    def _unit_sql(self, units: int) -> str:
        """The unit of a row: a hash of its key values (as DynamoDB compares them)."""
        keys = ", ".join(key_text_sql(a) for a in self.keys.attributes)
        return f"(hash({keys}) % {int(units)})::INTEGER"

    def _kept(self) -> duckdb.DuckDBPyRelation:
        rows = self._rows()
        return rows.filter(self.filter.expression) if self.filter else rows

    def _run(self, work: Callable[[], T]) -> T:
        """``work()`` with DuckDB's errors translated: the reader's, or the filter's."""
        try:
            return work()
        except (duckdb.Error, pa.ArrowException, OSError) as e:
            raise self._failure(e) from e

    def _failure(self, error: BaseException) -> DdbLakeError:
        read = self._read_error
        if isinstance(read, DdbLakeError):
            return read
        if read is not None:
            return reading_error(read, self.paths)
        text = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        if self.filter is not None:
            return FilterError(f"the --where filter failed on a selected row: {text}",
                               hint="make it hold for every row, e.g. TRY_CAST(x AS INTEGER) "
                                    "gives NULL where CAST fails; the row is then not "
                                    "selected")
        return DdbLakeError(f"the selection could not be read: {text}",
                            hint="this is a bug in ddblake; please report it")

    def count(self) -> tuple[int, str]:
        """How many rows, and a fingerprint of their content (to recognise them on resume).
        With a keys file, also sets :attr:`keys_matched`: how many keys matched an item of
        the selection (before ``--where``)."""
        keep = self.filter.expression if self.filter else duckdb.ConstantExpression(True)
        sums = ("count(*) FILTER (WHERE _keep), "
                "coalesce(sum(hash(_item)) FILTER (WHERE _keep), 0)::VARCHAR")
        if self.keys_given is not None:
            sums += f", count(DISTINCT {KEY_ROW})"
        [row] = self._run(lambda: self._rows().select(duckdb.StarExpression(), keep.alias("_keep"))
                          .aggregate(sums).fetchall())
        if self.keys_given is not None:
            self.keys_matched = int(row[2])
        return int(row[0]), str(row[1])

    def sample(self, n: int) -> list[str]:
        rows = self._run(lambda: self._kept().project("CAST(_item AS VARCHAR)")
                         .limit(int(n)).fetchall())
        return [str(r[0]) for r in rows]

    def batches(self, units: int, rows: int = ROWS,
                ttl_attribute: str | None = None) -> Iterator[pa.RecordBatch]:
        """Rows as (``_item`` text, ``_unit``, ``_item_hash`` (the hash the backup recorded
        for the item, checked by :mod:`restorer.itemcheck`), the key values ``_k0``, ``_k1``
        as compared by DynamoDB value (see :func:`key_text_sql`), and with ``ttl_attribute``
        its ``N`` text ``_ttl``): the unit is a hash of the key, so every version of a key
        lands in the same unit and units are the same on every run."""
        names = [f"_k{i}" for i in range(len(self.keys.attributes))]
        columns = ", ".join(f"{key_text_sql(a)} AS {n}"
                            for a, n in zip(self.keys.attributes, names, strict=True))
        if ttl_attribute:
            columns += f", {ttl_text_sql(ttl_attribute)} AS _ttl"
        reader = self._run(lambda: self._kept()
                           .project(f"CAST(_item AS VARCHAR) AS _item, {self._unit_sql(units)} "
                                    f"AS _unit, _item_hash, {columns}")
                           .to_arrow_reader(rows))
        batches = iter(reader)
        while True:
            batch = self._run(lambda: next(batches, None))
            if batch is None:
                return
            yield batch
