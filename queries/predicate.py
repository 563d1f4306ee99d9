"""A ``restore --where`` filter: one boolean expression over the selected rows, checked
by DuckDB's own parser, never by looking at the text.

How a filter is accepted (:func:`compile_filter`):

1. The text may not hold control characters (DuckDB's parser stops at a NUL byte, which
   would let two readers of the text disagree) and is at most 10,000 characters.
2. DuckDB parses ``SELECT <text>`` (``json_serialize_sql``, the text bound as a value) and
   the tree must be exactly one SELECT statement with one select-list expression and
   nothing else: no FROM, WHERE, GROUP BY, HAVING, QUALIFY, ORDER BY, LIMIT, DISTINCT,
   sample, CTE or second statement. This is the same string DuckDB's expression parser
   (``duckdb.SQLExpression``, used to evaluate the filter) parses, with the same parser,
   so the tree checked is the tree evaluated; anything it would silently drop (``a = 1
   FROM read_csv(...)``) is refused here instead. As a second check, the parsed expression
   as DuckDB prints it back is parsed and checked again.
3. Every node of the expression tree is walked (iteratively; depth does not matter) and
   must be of an allowed kind: column references, constants, comparisons, AND/OR/NOT,
   IS [NOT] NULL, IN (list), BETWEEN, CASE, CAST/TRY_CAST, COLLATE, subscripts, lambdas,
   and calls of allowed functions. Refused: subqueries (``IN (SELECT ...)``, ``EXISTS``),
   window functions, ``*``/``COLUMNS(...)``, prepared parameters, positional references,
   aggregate modifiers (DISTINCT, FILTER, ORDER BY), and function names qualified by a
   catalog or a schema other than ``main``.
4. The function rule is an allow rule by category, read from DuckDB's own catalogue of a
   fresh connection (``duckdb_functions()``). A name may be called when every scalar or
   macro overload of it is

   - a built-in *scalar* function DuckDB marks deterministic (``stability = CONSISTENT``,
     no side effects): its result depends on its arguments only; or
   - a *clock* function (``CONSISTENT_WITHIN_QUERY`` returning a DATE/TIME/TIMESTAMP:
     ``now()``, ``current_date``, ...); or
   - a built-in scalar *macro* whose own definition passes this same rule (so the
     ``pg_*``/``has_*_privilege`` macros that query the catalogue are refused);

   and it is not one of the few functions DuckDB marks deterministic although they read
   the engine instead of their arguments (:data:`ENGINE_STATE`: ``current_setting``,
   ``getvariable``, ``version`` and the SQL (de)serialisers). Everything else is refused:
   table functions (``read_csv``, ``duckdb_settings``, ``query``, ``glob``), aggregates,
   pragmas, volatile functions (``random``, ``nextval``, ``sleep_ms``, ``write_log``,
   ``error``), catalogue readers (``current_database``, ``txid_current``), functions from
   extensions not loaded in a fresh connection, and any name DuckDB does not list.
5. The expression is bound against an empty table with the selection's columns: unknown
   columns and type errors are refused before any row is read, and its type must be
   BOOLEAN (a number or a bare NULL is refused, not cast).

Trust: this check is the first wall, not the only one. The filter is evaluated in a
connection that holds nothing (:func:`queries.sandbox.isolated_connection`): no
credentials, no secrets, no extensions, no files, no Python objects, locked settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import duckdb

from schemas.errors import SandboxError, UsageError

MAX_CHARS = 10_000
ENGINE_STATE = frozenset({"current_setting", "getvariable", "version", "json_serialize_plan",
                          "json_serialize_sql", "json_deserialize_sql"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NODE_CLASSES = frozenset({"COLUMN_REF", "CONSTANT", "COMPARISON", "CONJUNCTION", "OPERATOR",
                           "BETWEEN", "CASE", "CAST", "COLLATE", "FUNCTION", "LAMBDA"})
_REFUSED_CLASSES = {
    "SUBQUERY": "a subquery", "WINDOW": "a window function", "STAR": "* or COLUMNS(...)",
    "PARAMETER": "a prepared parameter", "POSITIONAL_REFERENCE": "a positional reference (#n)",
    "DEFAULT": "DEFAULT",
}
_QUERY_KEYS = frozenset({"node", "from_table", "select_list", "cte_map"})
_CLOCK_TYPES = ("DATE", "TIME")
HINT = ("write one boolean expression over the item's columns, e.g. "
        "\"status = 'active' AND last_update < '2014-01-01'\"; subqueries, table functions "
        "and functions that read settings, files or the environment are not allowed")


class FilterError(UsageError):
    """The ``--where`` text is not a valid boolean expression over the selected rows
    (syntax, unknown column, wrong type), or it failed on a row."""


@dataclass(frozen=True)
class RowFilter:
    """A checked filter: the text as given, DuckDB's parsed expression of it, and the
    (lower-case) names its column references start with (a superset of the columns it
    reads: lambda parameters are in it too)."""

    text: str
    expression: duckdb.Expression
    names: frozenset[str] = frozenset()


def compile_filter(text: str, con: duckdb.DuckDBPyConnection,
                   rows: duckdb.DuckDBPyRelation) -> RowFilter:
    """Check ``text`` (see the module docstring) on ``con`` (an isolated connection) and
    bind it against ``rows``, an empty relation of ``con`` shaped like the selection."""
    _check_text(text)
    tree = parse_expression(con, text)
    _check_tree(tree)
    try:
        expression = duckdb.SQLExpression(text)
    except duckdb.Error as e:  # the same parse succeeded above; kept total anyway
        raise FilterError(f"the --where filter does not parse: {_first_line(e)}",
                          hint=HINT) from e
    # The tree DuckDB will evaluate, as DuckDB prints it, passes the same rule.
    _check_tree(parse_expression(con, str(expression)))
    _check_boolean(rows, expression)
    names = frozenset(str(n["column_names"][0]).lower() for n in _nodes(tree)
                      if n.get("class") == "COLUMN_REF" and n.get("column_names"))
    return RowFilter(text, expression, names)


def _check_tree(tree: dict[str, Any]) -> None:
    problem = first_problem(tree, callable_functions())
    if problem:
        raise SandboxError(f"the --where filter is refused: it uses {problem}", hint=HINT)


def _check_text(text: str) -> None:
    if not text.strip():
        raise FilterError("the --where filter is empty", hint=HINT)
    if len(text) > MAX_CHARS:
        raise FilterError(f"the --where filter is {len(text)} characters long "
                          f"(at most {MAX_CHARS})", hint="use --keys FILE for long key lists")
    if _CONTROL.search(text):
        raise SandboxError("the --where filter holds a control character (such as NUL)",
                           hint="remove it; write special characters in strings with "
                                "chr(n), e.g. name = 'a' || chr(9) || 'b'")


def parse_expression(con: duckdb.DuckDBPyConnection, text: str) -> dict[str, Any]:
    """DuckDB's parse tree of ``SELECT <text>``, which must be one bare select-list
    expression (no clause, no second statement). The text is bound, never spliced."""
    [row] = con.execute("SELECT json_serialize_sql($1)", ["SELECT " + text]).fetchall()
    return _tree_of(str(row[0]))


def _tree_of(serialized: str) -> dict[str, Any]:
    try:
        parsed = json.loads(serialized)
    except RecursionError as e:
        raise SandboxError("the --where filter is nested too deeply", hint=HINT) from e
    if parsed.get("error"):
        message = parsed.get("error_message", "syntax error")
        if parsed.get("error_type") == "parser":
            raise FilterError(f"the --where filter does not parse: {message}", hint=HINT)
        raise SandboxError(f"the --where filter is refused: it is not one expression "
                           f"({message})", hint=HINT)
    statements = parsed.get("statements", [])
    if len(statements) != 1:
        raise SandboxError(f"the --where filter holds {len(statements)} statements; "
                           "it must be one expression", hint=HINT)
    return _single_expression(statements[0].get("node", {}))


def _single_expression(node: dict[str, Any]) -> dict[str, Any]:
    select_list = node.get("select_list") or []
    if node.get("type") != "SELECT_NODE" or len(select_list) != 1:
        raise SandboxError("the --where filter must be exactly one expression "
                           f"(found {len(select_list)} expressions or a set operation)",
                           hint=HINT)
    extra = sorted(key for key, value in node.items()
                   if key not in ("type", "select_list", "from_table", "aggregate_handling",
                                  "cte_map") and value not in (None, [], {}))
    from_table = (node.get("from_table") or {}).get("type", "EMPTY")
    if from_table != "EMPTY":
        extra.append("from_table")
    if (node.get("cte_map") or {}).get("map"):
        extra.append("cte_map")
    if extra:
        raise SandboxError("the --where filter must be only an expression; it adds "
                           f"clauses ({', '.join(extra)})", hint=HINT)
    expression = select_list[0]
    assert isinstance(expression, dict)
    return expression


def first_problem(tree: dict[str, Any], allowed: frozenset[str]) -> str | None:
    """What in ``tree`` breaks the rule (see the module docstring), or None."""
    for node in _nodes(tree):
        if _QUERY_KEYS & node.keys():
            return "a query"
        kind = node.get("class")
        if kind is None:
            continue
        if kind in _REFUSED_CLASSES:
            return _REFUSED_CLASSES[kind]
        if kind not in _NODE_CLASSES:
            return f"an expression of kind {kind}"
        if kind == "FUNCTION":
            problem = _function_problem(node, allowed)
            if problem:
                return problem
    return None


def _nodes(tree: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every dict in ``tree`` (constants' values are data, not walked)."""
    stack: list[Any] = [tree]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            yield value
            if value.get("class") != "CONSTANT":
                stack.extend(value.values())


def _function_problem(node: dict[str, Any], allowed: frozenset[str]) -> str | None:
    name = str(node.get("function_name", "")).lower()
    if node.get("catalog") or node.get("schema") not in (None, "", "main"):
        return f"a qualified function name ({name})"
    if node.get("distinct") or node.get("filter") or node.get("export_state") or \
            (node.get("order_bys") or {}).get("orders"):
        return f"an aggregate modifier on {name}()"
    if name not in allowed:
        return f"the function {name}(), {describe_refusal(name)}"
    return None


def describe_refusal(name: str) -> str:
    """Why ``name`` may not be called (for the error message)."""
    kinds = _catalogue().get(name)
    if not kinds:
        return "which DuckDB does not list as a built-in function"
    if name in ENGINE_STATE:
        return "which reads the engine's settings or state"
    types = {k[0] for k in kinds}
    if not types & {"scalar", "macro"}:
        return f"which is {' or '.join(sorted(f'a {t} function' for t in types))}"
    return "which is not a deterministic function of its arguments"


def _check_boolean(rows: duckdb.DuckDBPyRelation, expression: duckdb.Expression) -> None:
    try:
        types = rows.select(expression).types
    except duckdb.Error as e:
        raise FilterError(f"the --where filter does not apply to the selected rows: "
                          f"{_first_line(e)}",
                          hint=f"the columns are {', '.join(rows.columns)}") from e
    if str(types[0]) != "BOOLEAN":
        raise FilterError(f"the --where filter is of type {types[0]}, not BOOLEAN",
                          hint="compare it with something, e.g. \"qty > 0\" rather than "
                               "\"qty\"")


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


Overload = tuple[str, str | None, bool | None, str | None, str | None]


@cache
def _catalogue() -> dict[str, list[Overload]]:
    """``name -> [(type, stability, side effects, return type, parsed macro body)]`` of a
    fresh connection (built-in functions and statically loaded extensions only)."""
    con = duckdb.connect(config={"enable_external_access": False,
                                 "autoload_known_extensions": False,
                                 "autoinstall_known_extensions": False})
    try:
        rows = con.sql("SELECT lower(function_name), function_type, stability, "
                       "has_side_effects, return_type, CASE WHEN function_type = 'macro' "
                       "THEN json_serialize_sql('SELECT ' || macro_definition) END "
                       "FROM duckdb_functions() WHERE internal").fetchall()
    finally:
        con.close()
    catalogue: dict[str, list[Overload]] = {}
    for name, *rest in rows:
        catalogue.setdefault(name, []).append((rest[0], rest[1], rest[2], rest[3], rest[4]))
    return catalogue


def _pure_scalar(overload: Overload) -> bool:
    _, stability, side_effects, returns, _ = overload
    if side_effects:
        return False
    clock = stability == "CONSISTENT_WITHIN_QUERY" and (returns or "").startswith(_CLOCK_TYPES)
    return stability == "CONSISTENT" or clock


@cache
def callable_functions() -> frozenset[str]:
    """The function names a filter may call (the rule of the module docstring)."""
    catalogue = _catalogue()
    allowed: set[str] = set()
    macros: dict[str, list[str]] = {}
    for name, overloads in catalogue.items():
        value = [o for o in overloads if o[0] in ("scalar", "macro")]
        if not value or name in ENGINE_STATE:
            continue
        if not all(_pure_scalar(o) for o in value if o[0] == "scalar"):
            continue
        bodies = [o[4] or "" for o in value if o[0] == "macro"]
        if bodies:
            macros[name] = bodies
        else:
            allowed.add(name)
    return frozenset(allowed | _allowed_macros(macros, allowed))


def _allowed_macros(macros: dict[str, list[str]], scalars: set[str]) -> set[str]:
    """The macros whose every body passes the rule, given the allowed scalars and the
    macros found so far (repeated until nothing changes: macros call macros)."""
    every_name = frozenset(_catalogue())
    calls: dict[str, set[str]] = {}
    for name, bodies in macros.items():
        trees = [_macro_tree(body) for body in bodies]
        if all(t is not None and first_problem(t, every_name) is None for t in trees):
            calls[name] = {str(n.get("function_name", "")).lower()
                           for t in trees if t is not None for n in _nodes(t)
                           if n.get("class") == "FUNCTION"}
    allowed: set[str] = set()
    while True:
        found = {name for name, called in calls.items()
                 if name not in allowed and called <= scalars | allowed}
        if not found:
            return allowed
        allowed |= found


def _macro_tree(serialized: str) -> dict[str, Any] | None:
    """The body expression of a macro, from its serialized parse (None if it is not one
    plain expression)."""
    try:
        return _tree_of(serialized)
    except (SandboxError, UsageError):
        return None
