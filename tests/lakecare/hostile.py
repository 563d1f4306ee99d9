"""Hostile lakes for tests: manifests someone else wrote, with a correct self-checksum, whose
part paths point outside the snapshot (and outside the lake)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lake import layout
from lake.fileio import FileIO
from schemas.manifest import Manifest
from schemas.models import dump_checked


def forge(io: FileIO, manifest: Manifest, edit: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite a committed manifest in place with ``edit`` applied and its self-checksum
    recomputed (what anyone with write access to a lake can do)."""
    key = layout.snapshot_manifest(manifest.table, manifest.snapshot_id)
    document = json.loads(io.read(key))
    edit(document)
    io.write(key, dump_checked(document))


def point_part_at(io: FileIO, manifest: Manifest, path: str, data: bytes) -> None:
    """Make the manifest's first part ``path``, recorded with the size and sha256 of ``data``
    (the bytes a hostile lake placed there), so only confinement can refuse it."""
    def edit(document: dict[str, Any]) -> None:
        part = document["parts"][0]
        part.update(path=path, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    forge(io, manifest, edit)


def tree(root: Path, *, skip: tuple[Path, ...] = ()) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root`` (except under ``skip``) with its bytes and mtime."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))
            if p.is_file() and not any(p.is_relative_to(s) for s in skip)}
