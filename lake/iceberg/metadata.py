"""Path-based Iceberg tables: no catalog service, only files beside the table.

A table's metadata versions are ``<location>/metadata/v<N>.metadata.json``. Version N+1 is
*created* through the lake's FileIO, which refuses to overwrite (``If-None-Match: *`` on S3, a
hard link on a local disk): that creation is the Iceberg commit, so two publishers can never
both commit version N+1, and a reader never sees half a file. ``version-hint.text`` (the
number N, as Hadoop-style readers such as DuckDB's ``iceberg_scan`` of a folder and pyiceberg's
``StaticTable`` expect) is written after the commit; when a crash leaves it behind, readers of
the folder see the previous version (a consistent, older state) and the next publish finds
the newest version by probing upward from the hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from pyiceberg.exceptions import ValidationError
from pyiceberg.table.metadata import TableMetadata, TableMetadataUtil

from lake.fileio import FileIO
from schemas.errors import AlreadyExistsError, ManifestError

HINT = "version-hint.text"
_VERSION = re.compile(r"v(\d+)\.metadata\.json")


@dataclass(frozen=True)
class Version:
    """One committed metadata version of a path-based table."""

    prefix: str  # lake key of the table folder, ending with "/"
    number: int
    metadata: TableMetadata
    location: str  # full URI of the metadata file


class ConcurrentPublishError(AlreadyExistsError):
    """Another publisher committed the same metadata version first."""


def metadata_key(prefix: str, number: int) -> str:
    return f"{prefix}metadata/v{number}.metadata.json"


def _hinted(io: FileIO, prefix: str) -> int | None:
    key = f"{prefix}metadata/{HINT}"
    if not io.exists(key):
        return None
    text = io.read(key).decode("utf-8", "replace").strip()
    return int(text) if text.isdigit() else None


def _listed(io: FileIO, prefix: str) -> int | None:
    numbers = [int(m.group(1)) for info in io.iter_objects(f"{prefix}metadata/")
               if (m := _VERSION.fullmatch(info.key.rsplit("/", 1)[-1]))]
    return max(numbers, default=None)


def current_number(io: FileIO, prefix: str) -> int | None:
    """The newest committed version: the hint, then probe upward (a crash may have left
    the hint one or more versions behind); without a hint, list the folder."""
    number = _hinted(io, prefix)
    if number is None or not io.exists(metadata_key(prefix, number)):
        return _listed(io, prefix)
    while io.exists(metadata_key(prefix, number + 1)):
        number += 1
    return number


def load(io: FileIO, prefix: str) -> Version | None:
    """The current version of the table at ``prefix``, or None when it has none yet."""
    number = current_number(io, prefix)
    if number is None:
        return None
    key = metadata_key(prefix, number)
    try:
        metadata = TableMetadataUtil.parse_raw(io.read(key).decode("utf-8"))
    except (ValidationError, ValueError) as e:
        raise ManifestError(f"Iceberg metadata {io.full_uri(key)} does not parse: {e}",
                            hint="rewrite it from the manifests with "
                                 "`ddblake iceberg --rebuild`") from e
    return Version(prefix, number, metadata, io.full_uri(key))


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def commit(io: FileIO, prefix: str, base: Version | None, metadata: TableMetadata) -> Version:
    """Create version ``base + 1`` (or 1) holding ``metadata``; then move the hint."""
    number = base.number + 1 if base else 1
    key = metadata_key(prefix, number)
    try:
        io.create(key, metadata.model_dump_json().encode("utf-8"))
    except AlreadyExistsError as e:
        raise ConcurrentPublishError(
            f"Iceberg metadata {io.full_uri(key)} was committed by another publisher",
            hint="run `ddblake iceberg` again: it publishes from the newest version") from e
    io.write(f"{prefix}metadata/{HINT}", str(number).encode("ascii"))
    return Version(prefix, number, metadata, io.full_uri(key))
