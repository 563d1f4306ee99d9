"""Records of restore drills (``<table>/state/drills/<drill-id>.json``), written by
``restorer.drill`` and read by ``snapshots`` to show when a table was last proven restorable."""

from __future__ import annotations

from typing import Any

import orjson

from lake import layout
from lake.fileio import FileIO

DRILLS = "drills/"


def drill_key(table: str, drill_id: str) -> str:
    return layout.state_key(table, f"{DRILLS}{drill_id}.json")


def record_drill(io: FileIO, table: str, drill_id: str, outcome: dict[str, Any]) -> None:
    io.write(drill_key(table, drill_id), orjson.dumps(outcome, option=orjson.OPT_INDENT_2))


def drills(io: FileIO, table: str) -> list[dict[str, Any]]:
    """Recorded drills of ``table``, oldest first (drill ids sort by time)."""
    prefix = layout.state_key(table, DRILLS)
    return [dict(orjson.loads(io.read(info.key))) for info in io.iter_objects(prefix)
            if info.key.endswith(".json")]


def last_passed(io: FileIO, table: str) -> dict[str, Any] | None:
    """The newest passed drill of ``table`` (None when it was never proven restorable)."""
    passed = [d for d in drills(io, table) if d.get("outcome") == "passed"]
    return passed[-1] if passed else None
