"""What the lake holds: committed snapshots and change batches, read from manifests only.

A listing of ``data/`` is never trusted: a snapshot exists when, and only when, its
manifest exists and parses.
"""

from __future__ import annotations

from lake import layout
from lake.fileio import FileIO
from schemas.changes import ChangeBatch, parse_change_batch
from schemas.errors import NotFoundError, UsageError
from schemas.manifest import Manifest, parse_manifest


def list_tables(io: FileIO) -> list[str]:
    return [name for name in io.list_dirs("") if io.list_dirs(layout.snapshots_prefix(name))
            or io.list_dirs(layout.changes_prefix(name))]


def snapshot_ids(io: FileIO, table: str) -> list[str]:
    """Ids of committed snapshots of ``table``, oldest first."""
    prefix = layout.snapshots_prefix(table)
    return [info.key[len(prefix):-len("/" + layout.MANIFEST)]
            for info in io.iter_objects(prefix) if info.key.endswith("/" + layout.MANIFEST)
            and info.key.count("/") == prefix.count("/") + 1]


def load_manifest(io: FileIO, table: str, snapshot_id: str) -> Manifest:
    key = layout.snapshot_manifest(table, snapshot_id)
    if not io.exists(key):
        raise NotFoundError(f"snapshot {snapshot_id} of table {table} is not in {io.uri}",
                            hint=f"list snapshots with `ddblake snapshots --lake {io.uri} "
                                 f"--table {table}`")
    return parse_manifest(io.read(key), what=io.full_uri(key))


def list_snapshots(io: FileIO, table: str | None = None) -> list[Manifest]:
    """Committed snapshots (of one table, or of every table), oldest first."""
    tables = [table] if table else list_tables(io)
    manifests = [load_manifest(io, t, sid) for t in tables for sid in snapshot_ids(io, t)]
    return sorted(manifests, key=lambda m: (m.table, m.snapshot_id))


def single_table(io: FileIO, table: str | None) -> str:
    """The table a command is about: the one given, or the lake's only table."""
    if table:
        return layout.check_table_name(table)
    tables = list_tables(io)
    if len(tables) == 1:
        return tables[0]
    if not tables:
        raise NotFoundError(f"the lake {io.uri} holds no tables yet",
                            hint="export one first: ddblake export TABLE --lake LAKE")
    raise UsageError(f"the lake {io.uri} holds several tables ({', '.join(tables)})",
                     hint="name one with --table")


def find_snapshot(io: FileIO, snapshot: str, table: str | None = None) -> Manifest:
    """Resolve ``latest`` or an id (searching every table when none is given)."""
    if snapshot == "latest":
        name = single_table(io, table)
        ids = snapshot_ids(io, name)
        if not ids:
            raise NotFoundError(f"table {name} has no committed snapshot in {io.uri}",
                                hint=f"export one: ddblake export {name} --lake {io.uri}")
        return load_manifest(io, name, ids[-1])
    if not layout.is_id(snapshot):
        raise UsageError(f"{snapshot!r} is not a snapshot id",
                         hint="ids look like 20261122T130501Z-1a2b3c4d; or use `latest`")
    for name in [table] if table else list_tables(io):
        if io.exists(layout.snapshot_manifest(name, snapshot)):
            return load_manifest(io, name, snapshot)
    raise NotFoundError(f"snapshot {snapshot} is not in {io.uri}",
                        hint=f"list snapshots with `ddblake snapshots --lake {io.uri}`")


def list_change_batches(io: FileIO, table: str) -> list[ChangeBatch]:
    """Committed change batches of ``table``, in batch-id (time) order."""
    batches = [parse_change_batch(io.read(info.key), what=io.full_uri(info.key))
               for info in io.iter_objects(layout.change_manifests_prefix(table))
               if info.key.endswith(".json")]
    return sorted(batches, key=lambda b: b.batch_id)
