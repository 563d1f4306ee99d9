"""Copy a committed snapshot to another lake (another bucket, region or account).

Parts are streamed through a local temporary file so the two lakes may use different
credentials; each part's size and sha256 are checked against the manifest while it is
downloaded and *before* it is uploaded (a damaged source part is never copied: exit 4 naming
it; a missing one is exit 5), the manifest is created last (the copy becomes visible only
when complete), and the copy is verified in the destination afterwards. A part already in the
destination with the recorded size and sha256 is not sent again, so an interrupted copy can
be re-run; one that differs is replaced.

The table's schema files (``<table>/schema/<n>.json``, format 2: :mod:`lake.table_schemas`)
are copied first, as they are: each is parsed, and the one the snapshot names must be the
schema its manifest carries. Readers of the copy need only the manifest, but exports into
the copied lake evolve the table's schema from the latest file, so without them a later
snapshot there would start a second schema 1 with other columns. A schema file the
destination already holds with other content (another backup of a same-named table) is
refused (AlreadyExistsError) before any part is copied.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from lake import layout
from lake.archive import require_readable
from lake.fileio import FileIO
from lake.progress import NullListener, ProgressListener
from lake.verified import Expected, fetch_verified, hash_object
from lake.verify import VerifyResult, head, verify_snapshot
from schemas.errors import AlreadyExistsError, CorruptDataError, ManifestError, UsageError
from schemas.manifest import Manifest, parse_manifest
from schemas.table_schema import parse_table_schema


@dataclass
class CopyResult:
    table: str
    snapshot_id: str
    destination: str
    parts_copied: int = 0
    parts_skipped: int = 0
    bytes_copied: int = 0
    schemas_copied: int = 0
    verification: VerifyResult | None = None

    def to_dict(self) -> dict[str, object]:
        check = self.verification
        return {"table": self.table, "snapshot": self.snapshot_id,
                "destination": self.destination, "parts_copied": self.parts_copied,
                "parts_skipped": self.parts_skipped, "bytes_copied": self.bytes_copied,
                "schemas_copied": self.schemas_copied,
                "verified": "deep" if check and check.deep else "structure",
                "ok": bool(check and check.ok)}


def copy_snapshot(source: FileIO, target: FileIO, manifest: Manifest, *, deep: bool = False,
                  listener: ProgressListener | None = None) -> CopyResult:
    """Copy one snapshot from ``source`` to ``target`` and verify it there (``deep`` re-reads
    every byte in the destination). Raises on any problem; returns what was done."""
    if source.uri.rstrip("/") == target.uri.rstrip("/"):
        raise UsageError(f"--to is the same lake as --lake ({source.uri})",
                         hint="copy to another bucket, prefix or folder")
    listener = listener or NullListener()
    require_readable(source, manifest)
    table, sid = manifest.table, manifest.snapshot_id
    result = CopyResult(table, sid, target.uri)
    manifest_key = layout.snapshot_manifest(table, sid)
    data = _manifest_bytes(source, manifest_key, manifest)
    result.schemas_copied = _copy_schemas(source, target, manifest)
    task = f"copy {sid}"
    listener.started(task, total=manifest.totals.bytes, unit="bytes")
    with tempfile.TemporaryDirectory(prefix="ddblake-copy-") as tmp:
        for part in manifest.parts:
            expected = Expected.of(layout.snapshot_part(table, sid, part.path), part,
                                   f"snapshot {sid}")
            if _already_there(target, expected):
                result.parts_skipped += 1
            else:
                local = Path(tmp, "part.parquet")
                fetch_verified(source, expected, local, action="copy")  # damaged: refused
                target.put_file(expected.key, local)
                local.unlink()
                result.parts_copied += 1
                result.bytes_copied += part.bytes
            listener.advanced(task, part.bytes, bytes=part.bytes)
    listener.finished(task)
    _commit_copy(target, manifest_key, data)
    result.verification = verify_snapshot(target, table, sid, deep=deep, listener=listener)
    error = result.verification.error()
    if error is not None:
        raise error
    return result


def _schema_ids(io: FileIO, table: str) -> list[int]:
    """The ids of the table's schema files (names that are not ``<8 digits>.json`` are not
    schema files: they are left alone)."""
    prefix = layout.table_schemas_prefix(table)
    names = (info.key[len(prefix):] for info in io.iter_objects(prefix))
    return sorted(int(n[:8]) for n in names
                  if len(n) == 13 and n.endswith(".json") and n[:8].isdigit())


def _copy_schemas(source: FileIO, target: FileIO, manifest: Manifest) -> int:
    """Create the source table's schema files in ``target`` (see the module documentation);
    return how many were new there."""
    table, named = manifest.table, manifest.table_schema
    files = []
    for schema_id in _schema_ids(source, table):
        key = layout.table_schema(table, schema_id)
        data = source.read(key)
        schema = parse_table_schema(data, what=source.full_uri(key))
        if (schema.schema_id, schema.table) != (schema_id, table) or (
                named is not None and schema_id == named.schema_id and schema != named):
            raise CorruptDataError(f"{source.full_uri(key)} is not schema {schema_id} of "
                                   f"{table} as snapshot {manifest.snapshot_id} records it",
                                   hint=f"run `ddblake verify --all --lake {source.uri}`")
        files.append((key, data))
    clashes = [k for k, d in files if target.exists(k) and target.read(k) != d]
    if clashes:
        raise AlreadyExistsError(f"{target.full_uri(clashes[0])} exists with other content",
                                 hint="the destination holds another schema history of "
                                      "this table; copy to another lake")
    return sum(_create_same(target, key, data) for key, data in files)


def _create_same(target: FileIO, key: str, data: bytes, *,
                 hint: str = "copy to another lake") -> bool:
    """Create ``key``; False when it is there with these bytes already (a re-run)."""
    try:
        target.create(key, data)
    except AlreadyExistsError:
        if target.read(key) != data:
            raise AlreadyExistsError(f"{target.full_uri(key)} exists with other content",
                                     hint=hint) from None
        return False
    return True


def _already_there(target: FileIO, expected: Expected) -> bool:
    """Whether the destination already holds exactly this part (an interrupted copy run
    again): the size, then S3's stored SHA-256 when it has one, else the hashed bytes."""
    info, checksum = head(target, expected.key)
    if info is None or info.size != expected.bytes:
        return False
    if checksum is not None:
        return checksum == expected.sha256
    return hash_object(target, expected.key) == (expected.bytes, expected.sha256)


def _manifest_bytes(source: FileIO, key: str, manifest: Manifest) -> bytes:
    """The source manifest's bytes, parsed again (they are written to the destination as
    they are): they must be the manifest the copy was planned from, whose part keys are
    the only ones read and written (``lake.layout`` builds them from checked names)."""
    data = source.read(key)
    if parse_manifest(data, what=source.full_uri(key)) != manifest:
        raise ManifestError(f"{source.full_uri(key)} changed while it was being copied",
                            hint="run the copy again; if it keeps changing, do not trust "
                                 "that lake")
    return data


def _commit_copy(target: FileIO, key: str, data: bytes) -> None:
    """Create the manifest last; an identical one already there (a re-run) is fine."""
    _create_same(target, key, data, hint="the destination holds a different snapshot with "
                                         "this id; copy to another lake")
