"""A lake opened for queries: one DuckDB connection with the views ready.

Results come back as pyarrow Tables (or a streaming RecordBatchReader), or as pandas
DataFrames with exact dtypes (``pd.ArrowDtype``: the default conversion turns int64 with
nulls into float64 and loses 2^53+1).
"""

from __future__ import annotations

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

    def relation(self, sql: str, params: Any = None) -> duckdb.DuckDBPyRelation:
        try:
            if params is not None:
                return self.connection.execute(sql, params)  # type: ignore[return-value]
            return self.connection.sql(sql)
        except duckdb.Error as e:
            raise _query_error(e, sql) from e

    def reader(self, sql: str, params: Any = None) -> pa.RecordBatchReader:
        """Stream the result in record batches (bounded memory)."""
        rel = self.relation(sql, params)
        try:
            return rel.to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as e:
            raise _query_error(e, sql) from e

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


def _query_error(error: duckdb.Error, sql: str) -> DdbLakeError:
    text = str(error)
    hint = "the views are: snapshots, items, changes, snapshot_items(id), diff(a, b), " \
           "as_of(table, ts), history(table, pk); see `ddblake query --help`"
    if "items" in text and "does not exist" in text:
        hint = "the lake holds several tables: name one with --table"
    if isinstance(error, duckdb.IOException | duckdb.HTTPException):
        from schemas.errors import StorageError

        return StorageError(f"DuckDB could not read the lake: {text}",
                            hint="check the lake URI and AWS settings")
    return QueryError(f"the query failed: {text}", hint=hint)
