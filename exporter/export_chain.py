"""The chain of incremental exports of a table, kept in ``<table>/state/incremental.json``.

A chain starts at a baseline (a full native export's snapshot, exact at time T, or the
first incremental window when there is none) and grows by windows ``[from, to)`` that must
follow each other exactly: the next window starts where the chain ends. A gap (changes
nobody exported), an overlap, or a different ``tableId`` (the table was re-created) breaks
the chain; the fix is a new full export (a new baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson

from exporter.export_reader import ExportInfo, parse_time
from lake import layout
from lake.fileio import FileIO
from schemas.errors import MissingDataError, UsageError

STATE_NAME = "incremental.json"
MIN_WINDOW = timedelta(minutes=15)
MAX_WINDOW = timedelta(hours=24)


class ChainBrokenError(MissingDataError):
    """The next incremental window does not continue the chain."""


@dataclass(frozen=True)
class Link:
    export_arn: str
    start: datetime
    end: datetime
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {"export_arn": self.export_arn, "from": iso(self.start), "to": iso(self.end),
                "rows": self.rows}


@dataclass(frozen=True)
class Chain:
    table: str
    table_id: str | None
    base_at: datetime
    base_snapshot: str | None
    end: datetime
    links: tuple[Link, ...] = field(default_factory=tuple)

    def to_bytes(self) -> bytes:
        return orjson.dumps({
            "format_version": 1, "table": self.table, "table_id": self.table_id,
            "base": {"at": iso(self.base_at), "snapshot_id": self.base_snapshot},
            "to": iso(self.end), "links": [link.to_dict() for link in self.links]},
            option=orjson.OPT_INDENT_2)


def iso(when: datetime) -> str:
    from exporter.native import iso_us

    return iso_us(when)


def _time(value: Any, name: str) -> datetime:
    when = parse_time(value, name)
    if when is None:
        raise ValueError(f"{name} is missing")
    return when


def load_chain(io: FileIO, table: str) -> Chain | None:
    key = layout.state_key(table, STATE_NAME)
    if not io.exists(key):
        return None
    try:
        d = orjson.loads(io.read(key))
        links = tuple(Link(x["export_arn"], _time(x["from"], "from"), _time(x["to"], "to"),
                           int(x["rows"])) for x in d["links"])
        return Chain(d["table"], d.get("table_id"), _time(d["base"]["at"], "base.at"),
                     d["base"].get("snapshot_id"), _time(d["to"], "to"), links)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise UsageError(f"{io.full_uri(key)} is not a valid incremental chain ({e!r})",
                         hint="delete it and re-baseline with a full native export") from e


def save_chain(io: FileIO, chain: Chain) -> None:
    io.write(layout.state_key(chain.table, STATE_NAME), chain.to_bytes())


def new_baseline(table: str, info: ExportInfo, snapshot_id: str) -> Chain:
    """A full export at T starts a fresh chain ending at T."""
    at = info.export_time or info.start_time
    assert at is not None
    return Chain(table, info.table_id, at, snapshot_id, at)


def rebaseline_hint(table: str) -> str:
    return (f"re-baseline with a full export: `ddblake export {table} --lake LAKE --mode "
            "native`; later incremental exports continue from it")


def extend(chain: Chain | None, table: str, info: ExportInfo, rows: int) -> tuple[Chain, bool]:
    """The chain with the incremental export ``info`` appended; ``(chain, appended)``.

    ``appended`` is False when the export is already part of the chain. Raises
    ChainBrokenError on a gap, an overlap or a re-created table.
    """
    start, end = info.from_time, info.to_time
    if start is None or end is None:
        raise UsageError(f"export {info.export_id} has no exportFromTime/exportToTime")
    link = Link(info.export_arn, start, end, rows)
    if chain is None:
        return Chain(table, info.table_id, start, None, end, (link,)), True
    if any(x.export_arn == info.export_arn for x in chain.links):
        return chain, False
    if chain.table_id and info.table_id and chain.table_id != info.table_id:
        raise ChainBrokenError(f"table {table} was re-created (tableId {info.table_id}, the "
                               f"chain has {chain.table_id}); the chain cannot continue",
                               hint=rebaseline_hint(table))
    if start > chain.end:
        raise ChainBrokenError(f"gap in the incremental chain of {table}: it ends at "
                               f"{iso(chain.end)} but export {info.export_id} starts at "
                               f"{iso(start)}; changes in between were never exported",
                               hint=rebaseline_hint(table) + ", or export the missing window "
                               "first (--from/--to)")
    if start < chain.end:
        raise ChainBrokenError(f"export {info.export_id} starts at {iso(start)}, before the "
                               f"chain's end {iso(chain.end)}: the windows overlap",
                               hint="convert exports in order; " + rebaseline_hint(table))
    return replace(chain, end=end, links=(*chain.links, link)), True


def validate_window(start: datetime, end: datetime, *, earliest: datetime | None,
                    latest: datetime | None, table: str) -> None:
    """DynamoDB's rules for an incremental window, checked before asking (clear messages)."""
    if start >= end:
        raise UsageError(f"--from {iso(start)} is not before --to {iso(end)}",
                         hint="the window is [from, to): from must be earlier")
    if end - start < MIN_WINDOW:
        raise UsageError(f"the window {iso(start)} .. {iso(end)} is shorter than 15 minutes",
                         hint=f"wait until {iso(start + MIN_WINDOW)} or widen it")
    if end - start > MAX_WINDOW:
        raise UsageError(f"the window {iso(start)} .. {iso(end)} is longer than 24 hours",
                         hint="export it as several windows of at most 24 hours")
    if earliest is not None and start < earliest:
        raise ChainBrokenError(f"{iso(start)} is older than table {table}'s point-in-time "
                               f"recovery window (earliest {iso(earliest)})",
                               hint=rebaseline_hint(table))
    if latest is not None and end > latest:
        raise UsageError(f"--to {iso(end)} is after the latest restorable time "
                         f"{iso(latest)} of table {table}",
                         hint="pick an earlier --to (PITR lags about 5 minutes)")
