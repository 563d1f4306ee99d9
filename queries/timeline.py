"""Which snapshot and which change batches hold a table's state at a given microsecond.

Read from committed manifests only (snapshot manifests and change-batch manifests).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lake import catalog, layout
from lake.coverage import coverage
from lake.fileio import FileIO
from queries.sqltext import iso_to_us, to_us, us_to_iso
from schemas.changes import ChangeBatch
from schemas.errors import NotFoundError, UsageError
from schemas.keys import KeySchema
from schemas.manifest import Manifest


@dataclass(frozen=True)
class State:
    """The recipe for a table's state at ``ts_us``: ``base`` (may be None when only a change
    log exists) plus the change parts ``change_keys`` (lake keys) replayed from ``from_us``."""

    table: str
    keys: KeySchema
    ts_us: int
    base: Manifest | None
    change_keys: tuple[str, ...]
    from_us: int
    from_inclusive: bool
    note: str | None


def point_us(manifest: Manifest) -> int:
    """The consistency point of a snapshot: its exact time, or the end of its scan window."""
    return iso_to_us(manifest.consistency.end)


def base_snapshot(io: FileIO, table: str, ts_us: int) -> Manifest | None:
    """The latest snapshot whose consistency point is at or before ``ts_us``. A damaged
    snapshot that may be that one (newer than the base found, started by ``ts_us``) is an
    error (exit 4); older damaged snapshots do not matter."""
    found = catalog.read_snapshots(io, table)
    candidates = [m for m in found.manifests if point_us(m) <= ts_us]
    base = max(candidates, key=lambda m: (point_us(m), m.snapshot_id), default=None)
    for damaged in found.damaged:
        if to_us(layout.id_time(damaged.snapshot_id)) <= ts_us and (
                base is None or damaged.snapshot_id > base.snapshot_id):
            raise type(damaged.error)(
                f"snapshot {damaged.snapshot_id} of {table} may hold the state at this time "
                f"and is damaged: {damaged.error.message}",
                hint="pick a time before it or after a newer snapshot, and run `ddblake "
                     "verify` on it")
    return base


def batches(io: FileIO, table: str) -> list[ChangeBatch]:
    return catalog.list_change_batches(io, table)


def has_changes(io: FileIO, table: str) -> bool:
    return bool(batches(io, table))


def window(t1: datetime, t2: datetime) -> tuple[int, int]:
    t1_us, t2_us = to_us(t1), to_us(t2)
    if t2_us < t1_us:
        raise UsageError(f"the window ends ({t2}) before it starts ({t1})",
                         hint="give the earlier time first")
    return t1_us, t2_us


def change_keys(io: FileIO, table: str, from_us: int, to_us_: int) -> tuple[str, ...]:
    """Lake keys of committed change parts that may hold events in [from_us, to_us_]."""
    found = []
    for batch in batches(io, table):
        if batch.rows and batch.first_event_us <= to_us_ and batch.last_event_us >= from_us:
            found += [layout.table_key(table, p.path) for p in batch.parts]
    return tuple(found)


# DynamoDB Streams stamps events to the second by default (ApproximateCreationDateTime), so a
# change made 0.3 s after a snapshot's point can carry a time before it. Replay therefore
# starts one second early. The overlap is harmless: the latest change per key wins, and a
# change from before the base's point is already reflected in the base.
EVENT_TIME_SLACK_US = 1_000_000


def _replay_start(base: Manifest | None) -> tuple[int, bool]:
    if base is None:
        return 0, True
    if base.consistency.kind == "fuzzy":
        return iso_to_us(base.consistency.start) - EVENT_TIME_SLACK_US, True
    return point_us(base) - EVENT_TIME_SLACK_US, True


def state_at(io: FileIO, table: str, ts_us: int) -> State:
    """How to rebuild ``table`` at ``ts_us``; raises NotFoundError when nothing covers it."""
    base = base_snapshot(io, table, ts_us)
    all_batches = batches(io, table)
    when = us_to_iso(ts_us)
    if base is None and not all_batches:
        raise NotFoundError(f"table {table} has no snapshot at or before {when} in {io.uri}",
                            hint=f"list what the lake holds: ddblake snapshots --lake {io.uri}")
    keys = base.key_schema if base else all_batches[0].key_schema
    from_us, inclusive = _replay_start(base)
    note = _note(io, table, base, all_batches, ts_us, from_us)
    return State(table, keys, ts_us, base, change_keys(io, table, from_us, ts_us), from_us,
                 inclusive, note)


def _note(io: FileIO, table: str, base: Manifest | None, all_batches: list[ChangeBatch],
          ts_us: int, from_us: int) -> str | None:
    when = us_to_iso(ts_us)
    if not all_batches:
        assert base is not None
        return (f"no change log covers {when}: table {table} has no change log, so this is "
                f"the latest snapshot at or before it ({base.snapshot_id}, "
                f"{base.consistency.kind} at {base.consistency.end})")
    if base is None:
        return (f"table {table} has no snapshot at or before {when}: state rebuilt from the "
                "change log alone (exact only if the log starts when the table was empty)")
    cov = coverage(io, table)
    if cov.exact_at(ts_us):
        return None
    gap = next((g for g in cov.gaps if g.start_us <= ts_us and g.end_us >= from_us), None)
    if gap is not None:
        return (f"{table} at {when} may be missing changes: the change log has a gap from "
                f"{us_to_iso(gap.start_us)} to {us_to_iso(gap.end_us)} ({gap.reason}); "
                f"base snapshot {base.snapshot_id}")
    part = next((c for c in cov.compacted if c.start_us <= ts_us <= c.end_us), None)
    if part is not None:
        return f"{table} at {when} is not exact: {part.reason} (base snapshot {base.snapshot_id})"
    return (f"{table} at {when} is not known to be exact: no complete change log is recorded "
            f"from {us_to_iso(from_us)} to then (base snapshot {base.snapshot_id} plus the "
            "changes the lake holds; see `ddblake coverage`)")
