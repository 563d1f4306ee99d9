"""What the lake holds: committed snapshots and change batches, read from manifests only.

A listing of ``data/`` is never trusted: a snapshot exists when, and only when, its
manifest exists. A listing only ever proposes names: a folder whose name is not a table name
or an id is not part of the lake and is ignored. A manifest is untrusted input
(``schemas.names``); it must also name the table and snapshot of the folder it sits in.

One damaged manifest does not make the whole lake unreadable: :func:`read_snapshots` returns
the readable snapshots and, apart, the damaged ones (``snapshots`` shows them, ``query``
skips them with a note). A command that needs exactly a damaged snapshot still fails (exit 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lake import layout
from lake.fileio import FileIO, LocalFileIO, S3FileIO, S3Location
from schemas import names
from schemas.changes import ChangeBatch, parse_change_batch
from schemas.errors import ManifestError, NotFoundError, UsageError
from schemas.manifest import Manifest, parse_manifest


def list_tables(io: FileIO) -> list[str]:
    return [name for name in io.list_dirs("") if names.is_table_name(name)
            and (io.list_dirs(layout.snapshots_prefix(name))
                 or io.list_dirs(layout.changes_prefix(name)))]


def snapshot_ids(io: FileIO, table: str) -> list[str]:
    """Ids of committed snapshots of ``table``, oldest first."""
    prefix = layout.snapshots_prefix(table)
    found = [info.key[len(prefix):-len("/" + layout.MANIFEST)]
             for info in io.iter_objects(prefix) if info.key.endswith("/" + layout.MANIFEST)
             and info.key.count("/") == prefix.count("/") + 1]
    return [sid for sid in found if layout.is_id(sid)]


def load_manifest(io: FileIO, table: str, snapshot_id: str) -> Manifest:
    key = layout.snapshot_manifest(table, snapshot_id)
    if not io.exists(key):
        raise NotFoundError(f"snapshot {snapshot_id} of table {table} is not in {io.uri}",
                            hint=f"list snapshots with `ddblake snapshots --lake {io.uri} "
                                 f"--table {table}`")
    manifest = parse_manifest(io.read(key), what=io.full_uri(key))
    if manifest.table != table or manifest.snapshot_id != snapshot_id:
        raise ManifestError(f"{io.full_uri(key)} names snapshot {manifest.snapshot_id} of "
                            f"{manifest.table}, not the folder it is in",
                            hint="a moved, hostile or damaged manifest; do not use it")
    return manifest


@dataclass(frozen=True)
class DamagedSnapshot:
    """A committed snapshot whose manifest cannot be used (``error`` says why)."""

    table: str
    snapshot_id: str
    error: ManifestError

    def note(self) -> str:
        return (f"snapshot {self.snapshot_id} of {self.table} is damaged and was skipped "
                f"({self.error.message}); run `ddblake verify {self.snapshot_id} --lake LAKE`")


@dataclass
class Snapshots:
    """The readable snapshots (oldest first per table) and, apart, the damaged ones."""

    manifests: list[Manifest] = field(default_factory=list)
    damaged: list[DamagedSnapshot] = field(default_factory=list)

    def notes(self) -> list[str]:
        return [d.note() for d in self.damaged]


def read_snapshots(io: FileIO, table: str | None = None) -> Snapshots:
    """Every committed snapshot of one table (or of every table); a manifest that does not
    parse, or names another folder, is set apart as damaged instead of failing the lake."""
    found = Snapshots()
    for name in [table] if table else list_tables(io):
        for sid in snapshot_ids(io, name):
            try:
                found.manifests.append(load_manifest(io, name, sid))
            except ManifestError as e:
                found.damaged.append(DamagedSnapshot(name, sid, e))
            except NotFoundError:
                continue  # deleted (pruned) since it was listed
    found.manifests.sort(key=lambda m: (m.table, m.snapshot_id))
    return found


def list_snapshots(io: FileIO, table: str | None = None) -> list[Manifest]:
    """Committed snapshots (of one table, or of every table), oldest first; a damaged one is
    an error (ManifestError, exit 4): use :func:`read_snapshots` to set it apart."""
    found = read_snapshots(io, table)
    if found.damaged:
        raise found.damaged[0].error
    return found.manifests


def single_table(io: FileIO, table: str | None) -> str:
    """The table a command is about: the one given (it must be in the lake), or the lake's
    only table."""
    if table:
        return require_table(io, table)
    tables = list_tables(io)
    if len(tables) == 1:
        return tables[0]
    if not tables:
        raise empty_lake(io)
    raise UsageError(f"the lake {io.uri} holds several tables ({', '.join(tables)})",
                     hint="name one with --table")


def require_table(io: FileIO, table: str) -> str:
    """``table`` when the lake holds it; else NotFoundError (exit 5) naming what it holds."""
    layout.check_table_name(table)
    if io.list_dirs(layout.snapshots_prefix(table)) or io.list_dirs(layout.changes_prefix(table)):
        return table
    tables = list_tables(io)
    if not tables:
        raise empty_lake(io)
    near = [t for t in tables if t.lower() == table.lower()]
    hint = (f"table names are case-sensitive: did you mean {near[0]}?" if near else
            f"the lake holds: {', '.join(tables)}")
    raise NotFoundError(f"table {table} is not in the lake {io.uri}", hint=hint)


def check_lake(io: FileIO) -> None:
    """Raise NotFoundError (exit 5) when ``io`` is evidently not a lake: a folder that does
    not exist, a table's own folder, or a folder of other things. An empty folder or S3
    prefix passes (a lake nothing was exported to yet)."""
    if list_tables(io):
        return
    root = io.list_dirs("")
    if any(names.is_table_name(n) and io.list_dirs(layout.state_key(n, "")) for n in root):
        return  # only export state so far (an export that never wrote a part)
    error = _not_a_lake(io, root)
    if error is not None:
        raise error


def _not_a_lake(io: FileIO, root: list[str]) -> NotFoundError | None:
    if {"snapshots", "changes"} & set(root):
        parent = io.uri.rstrip("/").rsplit("/", 1)[0]
        return NotFoundError(f"{io.uri} is a table's folder, not a lake",
                             hint=f"give the folder above it: --lake {parent}")
    if isinstance(io, LocalFileIO) and not io.root.is_dir():
        return NotFoundError(f"the lake {io.uri} does not exist",
                             hint=_nearby(io) or "check the --lake path")
    if root:
        return NotFoundError(f"{io.uri} holds no ddblake tables (it holds "
                             f"{', '.join(root[:10])})", hint="check the --lake path")
    return None


def empty_lake(io: FileIO) -> NotFoundError:
    """The error for a lake that holds no table: a mistyped path, a table's own folder given
    as the lake, or a lake nothing was exported to yet."""
    error = _not_a_lake(io, io.list_dirs(""))
    if error is not None:
        return error
    return NotFoundError(f"the lake {io.uri} holds no tables yet",
                         hint=_nearby(io) or "check the --lake path, or export a table first: "
                                             "ddblake export TABLE --lake LAKE")


def _nearby(io: FileIO) -> str | None:
    """What the folder above the lake holds (a mistyped last folder name shows up there)."""
    if isinstance(io, LocalFileIO):
        parent: Path = io.root.parent
        try:
            entries = sorted(p.name for p in parent.iterdir() if p.is_dir())
        except OSError:
            return None
        where = str(parent)
    elif isinstance(io, S3FileIO) and io.location.prefix:
        prefix, _, _ = io.location.prefix.rpartition("/")
        above = S3FileIO(S3Location(io.location.bucket, prefix), io.client)
        entries, where = above.list_dirs(""), above.uri
    else:
        return None
    if not entries:
        return None
    return f"{where} holds: {', '.join(entries[:20])}" + (" ..." if len(entries) > 20 else "")


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
    for name in [require_table(io, table)] if table else list_tables(io):
        if io.exists(layout.snapshot_manifest(name, snapshot)):
            return load_manifest(io, name, snapshot)
    raise NotFoundError(f"snapshot {snapshot} is not in {io.uri}",
                        hint=f"list snapshots with `ddblake snapshots --lake {io.uri}`")


def list_change_batches(io: FileIO, table: str) -> list[ChangeBatch]:
    """Committed change batches of ``table``, in batch-id (time) order. Each must name the
    table and the batch id of its own key (ManifestError, exit 4, otherwise)."""
    batches = []
    for info in io.iter_objects(layout.change_manifests_prefix(table)):
        if not info.key.endswith(".json"):
            continue
        batch = parse_change_batch(io.read(info.key), what=io.full_uri(info.key))
        if batch.table != table or info.key != layout.change_manifest(table, batch.batch_id):
            raise ManifestError(f"{io.full_uri(info.key)} names batch {batch.batch_id} of "
                                f"{batch.table}, not its own key",
                                hint="a moved, hostile or damaged change batch manifest")
        batches.append(batch)
    return sorted(batches, key=lambda b: b.batch_id)
