"""Data first, commit last.

Parts are written to a local temporary file, hashed, then uploaded under a deterministic,
collision-free name. A snapshot or change batch becomes visible only when its manifest is
created with overwrite forbidden; a crash before that leaves orphans for ``gc``, never a
partial snapshot.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lake import layout
from lake.fileio import FileIO, WriteOptions
from schemas.changes import ChangeBatch
from schemas.errors import AlreadyExistsError, MissingDataError
from schemas.manifest import Manifest

COMPRESSION = "zstd"
ROW_GROUP_ROWS = 128 * 1024


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_parquet(io: FileIO, key: str, table: pa.Table, options: WriteOptions | None = None,
                  *, parquet: dict[str, Any] | None = None) -> tuple[int, str]:
    """Write ``table`` as one zstd Parquet object at ``key`` (``parquet``: more
    ``pyarrow.parquet.write_table`` options); return (bytes, sha256).

    Every page carries its CRC-32 (``write_page_checksum``): a second layer under the part's
    sha256, checked wherever ddblake reads parts with pyarrow (``verify --deep``) and by any
    other reader that checks page CRCs."""
    with tempfile.TemporaryDirectory(prefix="ddblake-part-") as tmp:
        local = Path(tmp, "part.parquet")
        pq.write_table(table, local, compression=COMPRESSION, row_group_size=ROW_GROUP_ROWS,
                       write_page_checksum=True, **(parquet or {}))
        # Arrow's allocator keeps freed memory for reuse; hand it back between parts, so
        # that a worker's footprint is one part's, not its largest part's plus fragments.
        pa.default_memory_pool().release_unused()
        sha = file_sha256(local)
        size = local.stat().st_size
        io.put_file(key, local, options)
    return size, sha


def _check_parts(io: FileIO, keys_and_sizes: list[tuple[str, int]]) -> None:
    for key, size in keys_and_sizes:
        info = io.stat(key)
        if info is None or info.size != size:
            raise MissingDataError(f"part {io.full_uri(key)} is missing or has the wrong size; "
                                   "refusing to commit")


def commit_snapshot(io: FileIO, manifest: Manifest) -> None:
    """Create the snapshot's manifest after checking every part is in place."""
    _check_parts(io, [(layout.snapshot_part(manifest.table, manifest.snapshot_id, p.path), p.bytes)
                      for p in manifest.parts])
    key = layout.snapshot_manifest(manifest.table, manifest.snapshot_id)
    try:
        io.create(key, manifest.to_bytes())
    except AlreadyExistsError as e:
        raise AlreadyExistsError(f"snapshot {manifest.snapshot_id} is already committed",
                                 hint="another export used the same id; run it again") from e


def commit_change_batch(io: FileIO, batch: ChangeBatch) -> bool:
    """Create the batch's manifest; False when the same batch was committed before
    (a retried Lambda invocation or a restarted consumer)."""
    _check_parts(io, [(layout.table_key(batch.table, p.path), p.bytes) for p in batch.parts])
    try:
        io.create(layout.change_manifest(batch.table, batch.batch_id), batch.to_bytes())
    except AlreadyExistsError:
        return False
    return True
