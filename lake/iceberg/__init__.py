"""The lake published as Apache Iceberg tables, derived from ddblake's manifests.

Per DynamoDB table two path-based Iceberg tables live beside its data
(``<lake>/<table>/iceberg/items`` and ``.../changes``): engines need only a metadata location.
They register the lake's own Parquet parts (never copies). ddblake's manifests stay the commit
of record: the Iceberg metadata is rewritten from them at any time (``rebuild=True``).
See docs/iceberg.md.
"""

from __future__ import annotations

from lake import catalog
from lake.fileio import FileIO
from lake.iceberg.changes import publish_changes
from lake.iceberg.items import publish_items, withdraw
from lake.iceberg.tables import Published

__all__ = ["Published", "publish", "publish_table", "withdraw"]


def publish_table(io: FileIO, table: str, *, rebuild: bool = False,
                  dry_run: bool = False) -> list[Published]:
    """Bring ``table``'s items and change tables up to date (or say what would change)."""
    return [publish_items(io, table, rebuild=rebuild, dry_run=dry_run),
            publish_changes(io, table, rebuild=rebuild, dry_run=dry_run)]


def publish(io: FileIO, table: str | None = None, *, rebuild: bool = False,
            dry_run: bool = False) -> list[Published]:
    """Publish one table, or every table of the lake."""
    tables = [table] if table else catalog.list_tables(io)
    return [p for name in tables for p in publish_table(io, name, rebuild=rebuild,
                                                        dry_run=dry_run)]
