"""The names lake keys are made of: table names, lake ids and recorded relative paths.

Every key ddblake builds (``lake.layout``) is assembled from names that pass these checks, and
every document read from a lake (snapshot and change-batch manifests, state files, drill
records) checks the names it carries here before any of them is used. A manifest is untrusted
input (its self-checksum can be recomputed by anyone), so this is what keeps a hostile or
damaged lake from making ddblake read, write or delete a key outside its place.

The checks are a grammar, not a search for bad substrings: a relative path is split on ``/``
into segments and each segment must match :data:`SEGMENT` (letters, digits, ``_ . = + -``,
not starting with a dot, at most 255 characters). That grammar has no room for ``..``, ``.``,
an empty segment (``a//b``, a leading ``/``), a scheme (``s3://``, ``file:``), a backslash, a
space, NUL or any other control character. The reason given in an error is only for the
reader of the message.
"""

from __future__ import annotations

import re

from schemas.errors import UnsafeNameError

TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
"""DynamoDB's own rule for table names (they may differ only in case)."""

LAKE_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")
"""Snapshot, batch, restore and drill ids: ``20261122T130501Z-0a2b3c4d``."""

SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]{0,254}")
"""One segment of a relative path a lake document records."""

MAX_PATH = 1024


def is_table_name(text: object) -> bool:
    return isinstance(text, str) and TABLE.fullmatch(text) is not None


def is_lake_id(text: object) -> bool:
    return isinstance(text, str) and LAKE_ID.fullmatch(text) is not None


def table_name(text: object, *, what: str = "table name") -> str:
    """``text`` when it is a DynamoDB table name, else UnsafeNameError."""
    if not is_table_name(text):
        raise UnsafeNameError(f"{what} {text!r} is not a DynamoDB table name",
                              hint="table names are 3-255 characters of A-Z a-z 0-9 _ . -")
    assert isinstance(text, str)
    return text


def lake_id(text: object, *, what: str = "id") -> str:
    """``text`` when it is a lake id, else UnsafeNameError."""
    if not is_lake_id(text):
        raise UnsafeNameError(f"{what} {text!r} is not a ddblake id",
                              hint="ids look like 20261122T130501Z-1a2b3c4d")
    assert isinstance(text, str)
    return text


def segments(text: object) -> list[str] | None:
    """The segments of a safe relative path, or None when ``text`` is not one."""
    if not isinstance(text, str) or not text or len(text) > MAX_PATH:
        return None
    parts = text.split("/")
    return parts if all(SEGMENT.fullmatch(p) for p in parts) else None


def relative_path(text: object, *, under: str, what: str = "path") -> str:
    """``text`` when it is a safe relative path strictly inside the folder ``under`` (itself
    a safe relative path, e.g. ``data``), else UnsafeNameError naming why."""
    parts = segments(text)
    prefix = under.split("/")
    if parts is None or len(parts) <= len(prefix) or parts[:len(prefix)] != prefix:
        raise UnsafeNameError(f"{what} {text!r} {_why(text, under)}",
                              hint="a hostile or damaged lake document; do not use it. "
                                   "Paths are relative, inside their folder, without '..'")
    assert isinstance(text, str)
    return text


def _why(text: object, under: str) -> str:
    """Why ``text`` was refused, in words (only for the message)."""
    if not isinstance(text, str):
        return "is not a string"
    reasons = [
        (not text, "is empty"),
        (len(text) > MAX_PATH, f"is longer than {MAX_PATH} characters"),
        ("://" in text or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", text) is not None,
         "carries a scheme"),
        (text.startswith("/"), "is absolute"),
        ("\\" in text, "contains a backslash"),
        (any(ord(c) < 32 or ord(c) == 127 for c in text), "contains a control character"),
        (".." in text.split("/"), "contains '..'"),
        ("." in text.split("/"), "contains '.'"),
        ("" in text.split("/"), "has an empty segment"),
        (any(s.startswith(".") for s in text.split("/")), "has a segment starting with '.'"),
    ]
    for hit, reason in reasons:
        if hit:
            return reason
    if segments(text) is None:
        return "has a segment with characters outside A-Z a-z 0-9 _ . = + -"
    return f"is not inside {under}/"
