"""ddblake as a library.

>>> from ddblake.api import open_lake
>>> lake = open_lake("s3://bucket/lake")            # or a local folder
>>> lake.query("SELECT status, count(*) FROM items GROUP BY ALL")   # a pyarrow Table
>>> lake.query_df("SELECT * FROM as_of('orders', '2026-11-17 14:00:00Z')")  # exact dtypes
>>> lake.snapshots()
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lake.fileio import load_file_io
from queries.selections import (
    Selection,
    as_of_selection,
    changed_between_selection,
    deleted_between_selection,
    snapshot_selection,
)
from queries.session import LakeSession as Lake
from queries.session import QueryOptions

__all__ = ["Lake", "QueryOptions", "Selection", "as_of_selection",
           "changed_between_selection", "deleted_between_selection", "open_lake",
           "snapshot_selection"]


def open_lake(uri: str, *, table: str | None = None, snapshot: str | None = None,
              as_of: datetime | None = None, session: Any = None,
              s3_client: Any = None) -> Lake:
    """Open a lake for queries. ``items`` is the latest snapshot of ``table`` (or of the
    lake's only table), or that table at ``snapshot`` / ``as_of``."""
    io = load_file_io(uri, session=session, s3_client=s3_client)
    return Lake(io, QueryOptions(table=table, snapshot=snapshot, as_of=as_of))
