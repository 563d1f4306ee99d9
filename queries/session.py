"""A lake opened for queries: one DuckDB connection with the views ready.

Results come back as pyarrow Tables (or a streaming RecordBatchReader), or as pandas
DataFrames with exact dtypes (``pd.ArrowDtype``: the default conversion turns int64 with
nulls into float64 and loses 2^53+1).

Trust: this is the user's own SQL over their own lake, with their own credentials (an S3
lake's secret is in this connection, as ``query --print-setup --with-credentials`` shows);
it is not a sandbox. What it does guarantee: only read-only statements run (DuckDB's
parser decides: SELECT/WITH/FROM/VALUES/TABLE/DESCRIBE/SHOW/SUMMARIZE/PRAGMA queries and
EXPLAIN; COPY, SET, CREATE, ATTACH, INSTALL, LOAD, CALL, INSERT... are refused with a
:class:`QueryError`), so a query cannot change the session's views or settings, and every
DuckDB error, also one met while the result streams, becomes a :class:`QueryError` or
:class:`~schemas.errors.StorageError` with a hint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from lake import catalog
from lake.fileio import FileIO
from queries import views
from queries.access import lake_access
from queries.selections import Selection, as_of_selection, snapshot_selection
from schemas.errors import DdbLakeError, UsageError

if TYPE_CHECKING:
    import pandas as pd

BATCH_ROWS = 64 * 1024
READ_ONLY = frozenset({duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN})
FULL_DUCKDB = ("for a full DuckDB over the same views: "
               "ddblake query --lake LAKE --print-setup | duckdb")
_WHAT_INSTEAD = {
    "COPY": "to write the result to a file: ddblake query ... --format csv|json|parquet "
            "--output FILE",
    "CALL": "call a table function in a query instead: SELECT * FROM fn(...)",
}


VIEWS_HINT = ("the views are: snapshots, items, changes, snapshot_items(id), diff(a, b), "
              "as_of(table, ts), history(table, pk); see `ddblake query --help`")


class QueryError(UsageError):
    """The SQL did not run (syntax, unknown column, type error)."""


@dataclass(frozen=True)
class QueryOptions:
    """Which table ``items`` means, and at which point: the latest snapshot (default),
    one snapshot (``snapshot``), or the state at a time (``as_of``)."""

    table: str | None = None
    snapshot: str | None = None
    as_of: datetime | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.snapshot and self.as_of:
            raise UsageError("give --snapshot or --as-of, not both",
                             hint="--as-of picks the snapshot itself")


class LakeSession:
    """``LakeSession(io).query("SELECT count(*) FROM items")``."""

    def __init__(self, io: FileIO, options: QueryOptions | None = None) -> None:
        self.io = io
        self.options = options or QueryOptions()
        self.notes: list[str] = []
        self._con: duckdb.DuckDBPyConnection | None = None
        self._setup: list[str] | None = None

    @property
    def table(self) -> str | None:
        """The default table: the one asked for, else the lake's only table, else None."""
        if self.options.table:
            return catalog.require_table(self.io, self.options.table)
        tables = catalog.list_tables(self.io)
        if not tables:
            raise catalog.empty_lake(self.io)
        return tables[0] if len(tables) == 1 else None

    def _items_selection(self) -> Selection | None:
        opts = self.options
        if opts.as_of is not None:
            return as_of_selection(self.io, catalog.single_table(self.io, opts.table),
                                   opts.as_of)
        if opts.snapshot is not None:
            return snapshot_selection(self.io, catalog.find_snapshot(self.io, opts.snapshot,
                                                                     opts.table))
        return None

    def setup_sql(self, *, redact: bool = False) -> list[str]:
        """The statements that give any DuckDB the same views (secrets redacted on demand)."""
        if self._setup is None:
            table = self.table
            selection = self._items_selection()
            statements = views.setup_statements(self.io, table, self.notes,
                                                items=selection is None)
            if selection is not None and table:
                if selection.note:
                    self.notes.append(selection.note)
                tv = views.table_views(self.io, table)
                statements += views.default_views(self.io, tv, selection.sql)
            self._setup = statements
        access = lake_access(self.io)
        head = access.redacted_setup if redact else access.setup
        return [*head, *self._setup]

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            config: dict[str, str | bool | int | float | list[str]] = (
                {"threads": self.options.threads} if self.options.threads else {})
            con = duckdb.connect(config=config)
            for statement in self.setup_sql():
                con.execute(statement)
            self._con = con
        return self._con

    def statements(self, sql: str) -> list[str]:
        """The statements of ``sql`` as DuckDB's parser splits them; QueryError if one is
        not read-only (see the module docstring) or the text does not parse."""
        try:
            parsed = self.connection.extract_statements(sql)
        except duckdb.Error as e:
            raise self._error(e) from e
        if not parsed:
            raise UsageError("no SQL statement given (only blanks or comments)",
                             hint="write a query, e.g. SELECT count(*) FROM items")
        for statement in parsed:
            if statement.type not in READ_ONLY:
                kind = statement.type.name if statement.type.name.isalpha() else "non-query"
                shown = " ".join(statement.query.split())[:60] or kind
                raise QueryError(f"ddblake runs read-only queries; this is a {kind} "
                                 f"statement: {shown}",
                                 hint=_WHAT_INSTEAD.get(kind, FULL_DUCKDB))
        return [statement.query for statement in parsed]

    def relation(self, sql: str, params: Any = None) -> duckdb.DuckDBPyRelation:
        """The result of one read-only statement."""
        count = len(self.statements(sql))
        if count != 1:
            raise QueryError(f"one statement at a time, please: this SQL holds {count}",
                             hint="run them one by one, or use `ddblake shell`")
        try:
            if params is not None:
                return self.connection.execute(sql, params)  # type: ignore[return-value]
            return self.connection.sql(sql)
        except duckdb.Error as e:
            raise self._error(e) from e

    def reader(self, sql: str, params: Any = None) -> pa.RecordBatchReader:
        """Stream the result in record batches (bounded memory); an error met while
        streaming is raised as a ddblake error too."""
        rel = self.relation(sql, params)
        try:
            source = rel.to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as e:
            raise self._error(e) from e

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from source
            except (duckdb.Error, pa.ArrowException, OSError) as e:
                raise self._error(e) from e

        return pa.RecordBatchReader.from_batches(source.schema, batches())

    def _error(self, error: BaseException) -> DdbLakeError:
        return _query_error(error, self._tables_hint(str(error)))

    def _tables_hint(self, text: str) -> str | None:
        """A hint when ``items`` is missing: no table at all, or several."""
        if "items" not in text or "does not exist" not in text:
            return None
        tables = catalog.list_tables(self.io)
        if not tables:
            return (f"the lake {self.io.uri} holds no table: check the --lake path "
                    "(`ddblake snapshots --lake ...` lists what a lake holds)")
        return f"the lake holds several tables ({', '.join(tables)}): name one with --table"

    def query(self, sql: str, params: Any = None) -> pa.Table:
        """Run ``sql`` and return a pyarrow Table."""
        return self.reader(sql, params).read_all()

    def query_df(self, sql: str, params: Any = None) -> pd.DataFrame:
        """Run ``sql`` and return a DataFrame with exact ``pd.ArrowDtype`` columns."""
        import pandas as pd

        return self.query(sql, params).to_pandas(types_mapper=pd.ArrowDtype)

    def snapshots(self) -> pa.Table:
        hidden = "point_us, replay_from_us, replay_inclusive, ttl_attribute"
        return self.query(f'SELECT * EXCLUDE ({hidden}) FROM snapshots '
                          'ORDER BY "table", point_time')

    def as_of(self, ts: datetime, table: str | None = None) -> pa.Table:
        """Every item of ``table`` as it was at ``ts`` (exact with a change log)."""
        selection = as_of_selection(self.io, catalog.single_table(self.io, table or
                                                                  self.options.table), ts)
        if selection.note:
            self.notes.append(selection.note)
        return self.query(selection.sql)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> LakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _query_error(error: BaseException, hint: str | None = None) -> DdbLakeError:
    text = str(error).strip()
    if isinstance(error, duckdb.IOException | duckdb.HTTPException) or \
            text.startswith(("IO Error", "HTTP Error")):
        from schemas.errors import StorageError

        return StorageError(f"DuckDB could not read the lake: {text}",
                            hint="check the lake URI and AWS settings")
    return QueryError(f"the query failed: {text}", hint=hint or VIEWS_HINT)
