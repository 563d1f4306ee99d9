"""Records of restore drills (``<table>/state/drills/<drill-id>.json``), written by
``restorer.drill`` and read by ``snapshots`` to show when a table was last proven restorable.

A record is read like any lake document: untrusted. One that does not parse, or whose table,
snapshot id or drill id is not the one its key says, is not a record (it proves nothing) and
is left out, never a reason to fail a listing.
"""

from __future__ import annotations

from typing import Any

import orjson

from lake import layout
from lake.fileio import FileIO
from schemas import names

DRILLS = "drills/"
OUTCOMES = ("passed", "failed")


def drill_key(table: str, drill_id: str) -> str:
    return layout.state_key(table, f"{DRILLS}{names.lake_id(drill_id, what='drill id')}.json")


def record_drill(io: FileIO, table: str, drill_id: str, outcome: dict[str, Any]) -> None:
    io.write(drill_key(table, drill_id), orjson.dumps(outcome, option=orjson.OPT_INDENT_2))


def parse_record(data: bytes, table: str, drill_id: str) -> dict[str, Any] | None:
    """The record, or None when it is not a well-formed record of ``table``/``drill_id``."""
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict) or record.get("drill_id", drill_id) != drill_id \
            or record.get("table") != table or not names.is_lake_id(record.get("snapshot")) \
            or record.get("outcome") not in OUTCOMES \
            or not isinstance(record.get("started_at"), str):
        return None
    return dict(record)


def drills(io: FileIO, table: str) -> list[dict[str, Any]]:
    """Well-formed recorded drills of ``table``, oldest first (drill ids sort by time)."""
    prefix = layout.state_key(table, DRILLS)
    found = []
    for info in io.iter_objects(prefix):
        drill_id = info.key[len(prefix):].removesuffix(".json")
        if info.key.endswith(".json") and names.is_lake_id(drill_id):
            record = parse_record(io.read(info.key), table, drill_id)
            if record is not None:
                found.append(record)
    return found


def passed_drills(io: FileIO, table: str) -> list[dict[str, Any]]:
    return [d for d in drills(io, table) if d["outcome"] == "passed"]


def last_passed(io: FileIO, table: str) -> dict[str, Any] | None:
    """The newest passed drill of ``table`` (None when it was never proven restorable)."""
    passed = passed_drills(io, table)
    return passed[-1] if passed else None
