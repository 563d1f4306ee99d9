"""The chain of native exports of a table: derived from what the lake holds, never stored.

A table's native history is the set of its imported exports: full exports (snapshots, each
exact at its export time T) and incremental exports (windows ``[from, to)`` of change
records). The chain is computed from the committed snapshots (``extra.native_export``) and
change batches (``source.kind == "incremental_export"``), so it is the same whatever order the
exports were imported in, and a crash between two commits leaves nothing stale.

* ``base``: the latest full export (the baseline a restore starts from);
* ``links``: every incremental export whose batches are all committed, in time order;
* ``end``: where the next incremental window starts (the latest instant any export reaches).

Gaps (changes nobody exported: a window that does not start where the previous export ends)
and overlaps are not refused: they are imported as they are and ``lake.coverage`` shows the
gaps; ``as_of`` inside one is reported as not exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from exporter.export_reader import parse_time
from lake import catalog
from lake.coverage import EXPORT_KIND, complete_exports
from lake.fileio import FileIO
from schemas.changes import ChangeBatch
from schemas.errors import MissingDataError, UsageError
from schemas.manifest import Manifest

MIN_WINDOW = timedelta(minutes=15)
MAX_WINDOW = timedelta(hours=24)
INCREMENTAL_KIND = EXPORT_KIND


class ChainBrokenError(MissingDataError):
    """The chain cannot continue (its end is older than the table's PITR window)."""


@dataclass(frozen=True)
class Link:
    """One imported incremental export: the window ``[start, end)``."""

    export_arn: str
    start: datetime
    end: datetime
    rows: int
    table_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"export_arn": self.export_arn, "from": iso(self.start), "to": iso(self.end),
                "rows": self.rows, "table_id": self.table_id}


@dataclass(frozen=True)
class Baseline:
    """One imported full export: its snapshot, exact at ``at``."""

    export_arn: str
    at: datetime
    snapshot_id: str
    table_id: str | None = None


@dataclass(frozen=True)
class Chain:
    table: str
    table_id: str | None  # of the latest export
    base_at: datetime | None
    base_snapshot: str | None
    end: datetime
    links: tuple[Link, ...] = ()
    baselines: tuple[Baseline, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "table_id": self.table_id,
                "base": {"at": iso(self.base_at) if self.base_at else None,
                         "snapshot_id": self.base_snapshot},
                "to": iso(self.end), "links": [link.to_dict() for link in self.links]}


def iso(when: datetime) -> str:
    from exporter.native import iso_us

    return iso_us(when)


def baselines_of(snapshots: list[Manifest]) -> list[Baseline]:
    """Full native exports among ``snapshots``, oldest first."""
    found = []
    for m in snapshots:
        native = m.extra.get("native_export") if isinstance(m.extra, dict) else None
        if (m.source.method != "export" or not isinstance(native, dict)
                or native.get("export_type") != "FULL_EXPORT" or not m.source.export_arn):
            continue
        at = parse_time(m.consistency.end, "consistency.end")
        if at is not None:
            found.append(Baseline(m.source.export_arn, at, m.snapshot_id,
                                  native.get("table_id")))
    return sorted(found, key=lambda b: (b.at, b.export_arn))


def links_of(batches: list[ChangeBatch]) -> list[Link]:
    """Completely imported incremental exports, in window order."""
    links = []
    for group in complete_exports(batches):
        source = group[0].source
        arn = str(source["export_arn"])
        start, end = parse_time(source.get("from"), "from"), parse_time(source.get("to"), "to")
        if start is not None and end is not None:
            links.append(Link(arn, start, end, sum(b.rows for b in group),
                              source.get("table_id")))
    return sorted(links, key=lambda x: (x.start, x.end, x.export_arn))


def load_chain(io: FileIO, table: str) -> Chain | None:
    """The table's chain of native exports, from the committed snapshots and change batches;
    None when the lake holds no native export of it."""
    bases = baselines_of(catalog.list_snapshots(io, table))
    links = links_of(catalog.list_change_batches(io, table))
    if not bases and not links:
        return None
    ends = [(b.at, b.table_id) for b in bases] + [(x.end, x.table_id) for x in links]
    end, table_id = max(ends, key=lambda e: e[0])
    base = bases[-1] if bases else None
    return Chain(table, table_id, base.at if base else None,
                 base.snapshot_id if base else None, end, tuple(links), tuple(bases))


def rebaseline_hint(table: str) -> str:
    return (f"re-baseline with a full export: `ddblake export {table} --lake LAKE --mode "
            "native`; later incremental exports continue from it")


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
