"""A DuckDB connection for SQL that comes from users (``restore --where``, audit params).

It reads only the given paths (and, for S3 lakes, only the lake's bucket prefix), has no
other external access, and its configuration is locked, so ``read_csv('/etc/passwd')``,
``COPY ... TO``, ``ATTACH`` and ``SET enable_external_access=true`` all fail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb

from schemas.errors import SandboxError

_FORBIDDEN = re.compile(r";|--|/\*|\*/")


def sandboxed_connection(allowed_paths: Sequence[str], *, setup_sql: Sequence[str] = (),
                         allowed_directories: Sequence[str] = ()) -> duckdb.DuckDBPyConnection:
    """A connection that can read only ``allowed_paths``/``allowed_directories``.

    ``setup_sql`` runs before the lock (create views, secrets, load extensions).
    """
    con = duckdb.connect(config={"threads": 2})
    for statement in setup_sql:
        con.execute(statement)
    if allowed_paths:
        con.execute("SET allowed_paths = ?", [list(allowed_paths)])
    if allowed_directories:
        con.execute("SET allowed_directories = ?", [list(allowed_directories)])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def check_predicate(predicate: str) -> str:
    """Refuse predicates that try to end the statement or hide text in comments; the
    sandbox stops everything else. Returns the predicate unchanged."""
    if not predicate.strip():
        raise SandboxError("the --where predicate is empty")
    if _FORBIDDEN.search(predicate):
        raise SandboxError(f"the --where predicate may not contain ';' or comments: {predicate!r}",
                           hint="pass a single SQL boolean expression, e.g. "
                                "\"status = 'active' AND last_update < '2014-01-01'\"")
    problem = _paren_problem(predicate)
    if problem:
        raise SandboxError(f"the --where predicate {problem}: {predicate!r}",
                           hint="pass a single SQL boolean expression; parentheses must "
                                "balance inside it, e.g. \"(a = 1) OR (b = 2)\"")
    return predicate


def _paren_problem(predicate: str) -> str | None:
    """Parentheses must balance outside quotes, so the filter cannot close the query's
    own ``WHERE (...)`` and append another clause."""
    depth = 0
    quote: str | None = None
    for ch in predicate:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return "closes a parenthesis it did not open"
    if quote:
        return "has an unterminated quote"
    return "leaves a parenthesis open" if depth else None


def run_user_sql(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation:
    """Run user SQL on a sandboxed connection, turning refusals into SandboxError."""
    try:
        return con.sql(sql)
    except duckdb.PermissionException as e:
        raise SandboxError(f"refused by the sandbox: {e}",
                           hint="filters may read only the lake's snapshot rows") from e
    except duckdb.Error as e:
        if "configuration has been locked" in str(e):
            raise SandboxError(f"refused by the sandbox: {e}",
                               hint="settings cannot be changed in a filter") from e
        raise SandboxError(f"the SQL failed: {e}",
                           hint="check the expression; columns are the snapshot's "
                                "(see `ddblake show SNAPSHOT`)") from e
