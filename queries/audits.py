"""The audit library: ``queries/sql/<name>.sql`` files run against a lake's views.

Each file starts with a header of ``--`` comments::

    -- name: largest-items
    -- description: the biggest items of the snapshot, by canonical JSON size
    -- param: n = 10 | how many items
    -- param: t1 | start of the window (exclusive; required)
    -- selection: deleted_between
    -- snapshot-params: a, b

Parameters are DuckDB named parameters (``$n``) bound from ``--param k=v`` (text; the SQL
casts them): user text is always a bound value, never part of the SQL text.
``snapshot-params`` names parameters that are snapshot ids of the table: the runner
resolves ``latest`` and ``previous`` (the one before the latest) and refuses an id the
table does not hold, or a ``previous`` that does not exist (a table with one snapshot),
with a NotFoundError. A ``selection`` header makes the runner define the view ``selected`` from the
matching :mod:`queries.selections` function (``t1``/``t2`` params) before the query runs, so
the audit sees exactly what ``ddblake restore`` would select. ``$table`` is always bound to
the table's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources

import pyarrow as pa

from lake import catalog
from queries.selections import changed_between_selection, deleted_between_selection
from queries.session import LakeSession
from schemas.errors import NotFoundError, UsageError

_SELECTIONS = {"deleted_between": deleted_between_selection,
               "changed_between": changed_between_selection}


@dataclass(frozen=True)
class Param:
    name: str
    default: str | None
    help: str


@dataclass(frozen=True)
class Audit:
    name: str
    description: str
    sql: str
    params: tuple[Param, ...] = ()
    selection: str | None = None
    snapshot_params: tuple[str, ...] = ()


@dataclass
class AuditResult:
    audit: Audit
    table: pa.Table
    notes: list[str] = field(default_factory=list)


def _parse(text: str) -> Audit:
    meta: dict[str, str] = {}
    params: list[Param] = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        key, _, value = line[2:].strip().partition(":")
        value = value.strip()
        if key == "param":
            spec, _, help_text = value.partition("|")
            name, _, default = spec.partition("=")
            params.append(Param(name.strip(), default.strip() or None, help_text.strip()))
        else:
            meta[key.strip()] = value
    snapshot_params = tuple(n.strip() for n in meta.get("snapshot-params", "").split(",")
                            if n.strip())
    return Audit(meta["name"], meta.get("description", ""), text, tuple(params),
                 meta.get("selection"), snapshot_params)


def list_audits() -> list[Audit]:
    folder = resources.files("queries") / "sql"
    audits = [_parse(f.read_text(encoding="utf-8")) for f in folder.iterdir()
              if f.name.endswith(".sql")]
    return sorted(audits, key=lambda a: a.name)


def get_audit(name: str) -> Audit:
    for audit in list_audits():
        if audit.name == name:
            return audit
    names = ", ".join(a.name for a in list_audits())
    raise NotFoundError(f"there is no audit named {name!r}",
                        hint=f"known audits: {names} (see `ddblake audit --list`)")


def bind_params(audit: Audit, given: dict[str, str]) -> dict[str, str]:
    known = {p.name for p in audit.params}
    unknown = sorted(set(given) - known)
    if unknown:
        raise UsageError(f"audit {audit.name} has no parameter {', '.join(unknown)}",
                         hint=f"its parameters: {', '.join(sorted(known)) or 'none'}")
    values = {}
    for p in audit.params:
        value = given.get(p.name, p.default)
        if value is None:
            raise UsageError(f"audit {audit.name} needs --param {p.name}=...",
                             hint=f"{p.name}: {p.help}")
        values[p.name] = value
    return values


def _when(text: str, name: str) -> datetime:
    from queries.sqltext import parse_time

    return parse_time(text, what=f"--param {name}")


def run_audit(session: LakeSession, name: str, params: dict[str, str]) -> AuditResult:
    """Run one audit on ``session``'s lake (its ``items`` is the audited state)."""
    audit = get_audit(name)
    values = bind_params(audit, params)
    table = catalog.single_table(session.io, session.options.table)
    notes: list[str] = []
    if audit.selection:
        chooser = _SELECTIONS[audit.selection]
        sel = chooser(session.io, table, _when(values["t1"], "t1"), _when(values["t2"], "t2"))
        session.connection.execute(f"CREATE OR REPLACE TEMP VIEW selected AS {sel.sql}")
        if sel.note:
            notes.append(sel.note)
    if audit.snapshot_params:
        values.update(_snapshot_ids(session, table, audit, values))
    used = {k: v for k, v in values.items() if f"${k}" in audit.sql}
    if "$table" in audit.sql:
        used["table"] = table
    result = session.query(audit.sql, used)
    return AuditResult(audit, result, notes + session.notes)


def _snapshot_ids(session: LakeSession, table: str, audit: Audit,
                  values: dict[str, str]) -> dict[str, str]:
    """The snapshot parameters resolved to ids of ``table`` (newest first: ``latest``,
    then ``previous``)."""
    ids = [r["snapshot_id"] for r in session.query(
        'SELECT snapshot_id FROM snapshots WHERE "table" = $table '
        "ORDER BY point_us DESC, snapshot_id DESC", {"table": table}).to_pylist()]
    named = {"latest": ids[:1], "previous": ids[1:2]}
    resolved = {}
    for name in audit.snapshot_params:
        given = values[name]
        found = named[given] if given in named else [i for i in ids if i == given]
        if not found:
            what = (f"table {table} has {len(ids)} snapshot(s), so there is no {given} one"
                    if given in named else f"table {table} has no snapshot {given}")
            raise NotFoundError(f"audit {audit.name}: {what}",
                                hint=f"pass -p {name}=ID with an id of `ddblake snapshots "
                                     f"--lake {session.io.uri}`; {audit.name} compares two")
        resolved[name] = found[0]
    return resolved
