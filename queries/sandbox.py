"""DuckDB connections for the restore: one that reads the lake, one that sees user text.

What is trusted, and where user text goes:

- :func:`sandboxed_connection` reads the selection's parts. It runs only SQL that ddblake
  writes (the selection, the keys join); no user text ever reaches it: a keys file is
  registered as Arrow data. It can read only the given paths (``allowed_paths``), has no
  other external access and its configuration is locked.
- :func:`isolated_connection` evaluates the ``--where`` filter
  (:mod:`queries.predicate`). It receives the selected rows as an Arrow stream and holds
  nothing else: no extension loaded (so no httpfs, no S3 settings), no secret (persistent
  secrets are off, so none is read from ``~/.duckdb``), no file access
  (``enable_external_access=false``), no extension autoload or install, no scan of Python
  variables (``python_enable_replacements=false``), and its configuration is locked before
  any user text is seen. Even a filter that got past the parser check could read only
  the rows it was given and DuckDB's default settings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import duckdb

from schemas.errors import (
    CorruptDataError,
    DdbLakeError,
    MissingDataError,
    SandboxError,
    StorageError,
)

ISOLATED_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_persistent_secrets": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
    "memory_limit": "512MB",
    "threads": 2,
}


def sandboxed_connection(allowed_paths: Sequence[str], *, setup_sql: Sequence[str] = (),
                         allowed_directories: Sequence[str] = ()) -> duckdb.DuckDBPyConnection:
    """A connection that can read only ``allowed_paths``/``allowed_directories``.

    ``setup_sql`` runs before the lock (create views, secrets, load extensions).
    """
    con = duckdb.connect(config={"threads": 2, "python_enable_replacements": False})
    for statement in setup_sql:
        con.execute(statement)
    if allowed_paths:
        con.execute("SET allowed_paths = ?", [list(allowed_paths)])
    if allowed_directories:
        con.execute("SET allowed_directories = ?", [list(allowed_directories)])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def isolated_connection() -> duckdb.DuckDBPyConnection:
    """A connection with nothing to reveal, for user expressions over Arrow data handed
    to it (see the module docstring)."""
    con = duckdb.connect(config=dict(ISOLATED_CONFIG))
    con.execute("SET lock_configuration = true")
    return con


def run_trusted(con: duckdb.DuckDBPyConnection, sql: str,
                paths: Sequence[str] = ()) -> duckdb.DuckDBPyRelation:
    """Run ddblake's own SQL on a sandboxed connection that reads ``paths``, with DuckDB's
    errors translated."""
    try:
        return con.sql(sql)
    except duckdb.Error as e:
        raise reading_error(e, paths) from e


def reading_error(error: BaseException, paths: Sequence[str] = ()) -> DdbLakeError:
    """A DuckDB error met while reading ``paths``, as a ddblake error. Errors that cross an
    Arrow stream arrive as ``OSError`` with DuckDB's text (``IO Error: ...``). DuckDB reads
    a missing file as a folder to glob, which the sandbox refuses: a missing local part is
    reported as missing (exit 5), not as a refusal."""
    gone = [p for p in paths if "://" not in p and not os.path.exists(p)]
    if gone:
        return MissingDataError(f"{len(gone)} part(s) of the selection are missing, e.g. "
                                f"{gone[0]}", hint="check the lake with `ddblake verify`")
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    kind = type(error) if isinstance(error, duckdb.Error) else _KINDS.get(text.split(":")[0])
    if kind is duckdb.PermissionException or "configuration has been locked" in text:
        return SandboxError(f"refused by the sandbox: {text}",
                            hint="the selection may read only its own parts; report this")
    if kind is duckdb.IOException and "No files found" in text:
        return MissingDataError(f"a part of the selection is missing: {text}",
                                hint="check the lake with `ddblake verify`")
    if kind in (duckdb.IOException, duckdb.HTTPException):
        return StorageError(f"DuckDB could not read the lake: {text}",
                            hint="check the lake URI and AWS settings")
    if kind is duckdb.InvalidInputException:
        return CorruptDataError(f"the selection could not be read: {text}",
                                hint="check the lake with `ddblake verify --deep`")
    return DdbLakeError(f"the selection could not be read: {text}",
                        hint="this is a bug in ddblake; please report it with the command")


_KINDS: dict[str, type[duckdb.Error]] = {
    "IO Error": duckdb.IOException, "HTTP Error": duckdb.HTTPException,
    "Permission Error": duckdb.PermissionException,
    "Invalid Input Error": duckdb.InvalidInputException,
}
