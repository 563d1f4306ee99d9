"""Shared helpers for the frozen, versioned JSON models (manifests, change batches).

A model's bytes are canonical JSON (sorted keys, no whitespace) with a trailing
``manifest_sha256`` field: the sha256 of the same document without that field. Parsing checks
the format version first, then the checksum, then the fields.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from schemas.errors import ManifestError

CHECKSUM_FIELD = "manifest_sha256"
T = TypeVar("T")


def dump_checked(document: dict[str, Any]) -> bytes:
    """Canonical JSON bytes of ``document`` with its self-checksum added."""
    body = {k: v for k, v in document.items() if k != CHECKSUM_FIELD}
    digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return orjson.dumps({**body, CHECKSUM_FIELD: digest},
                        option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def load_checked(data: bytes, *, what: str, kind: str, versions: frozenset[int],
                 build: Callable[[dict[str, Any]], T]) -> T:
    """Parse, check version and self-checksum, then build the model; any failure is a
    ManifestError naming ``what``."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ManifestError(f"{what} is not valid JSON ({e})",
                            hint="the object is truncated or corrupt; run `ddblake verify`") from e
    if not isinstance(document, dict):
        raise ManifestError(f"{what} is not a JSON object")
    if document.get("kind") != kind:
        raise ManifestError(f"{what} has kind {document.get('kind')!r}, expected {kind!r}")
    version = document.get("format_version")
    if version not in versions:
        raise ManifestError(f"{what} has format_version {version!r}; this ddblake reads "
                            f"{sorted(versions)}", hint="upgrade ddblake to read this lake")
    recorded = document.get(CHECKSUM_FIELD)
    body = {k: v for k, v in document.items() if k != CHECKSUM_FIELD}
    actual = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
    if recorded != actual:
        raise ManifestError(f"{what} fails its self-checksum (recorded {recorded}, "
                            f"computed {actual})",
                            hint="the manifest was altered or damaged; do not restore from it")
    try:
        return build(document)
    except ManifestError as e:  # a field that is there but unsafe (schemas.names)
        raise type(e)(f"{what}: {e.message}", hint=e.hint) from e
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ManifestError(f"{what} is missing or has a bad field: {e!r}",
                            hint="the manifest was altered or damaged; do not restore from "
                                 "it") from e
