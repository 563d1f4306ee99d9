"""Retention: which snapshots to keep (grandfather-father-son), and deleting the rest safely.

The GFS rules work like restic's ``forget``: each rule is applied on its own to the snapshots
sorted newest first, and a snapshot is kept when any rule keeps it.

* ``keep_last`` N: the N newest snapshots;
* ``keep_daily`` D: the newest snapshot of each of the D most recent days that have one;
* ``keep_weekly`` W: the same per ISO week; ``keep_monthly`` M: per calendar month (UTC).

A snapshot's time is the time in its id (when its export started). On top of the rules,
three kinds of snapshot are never deleted:

* the newest snapshot of the table;
* a **locked** one: any of its objects is under S3 Object Lock retention (or legal hold);
* a **chain base**: change batches are replayed on top of the newest snapshot taken at or
  before them. Batches are grouped into intervals (a new interval starts when a batch begins
  more than ``chain_gap`` after the previous one ended); for each interval, the newest snapshot
  at or before the interval's first event is kept. (Deleting snapshots *inside* an interval is
  safe: the changes since the older base cover them.) Where the change log records its
  coverage (:mod:`lake.coverage`), the snapshot that starts the exact as-of interval of each
  stretch of complete log is kept as well, so no instant that was exact becomes inexact.

Deleting a snapshot deletes its manifest first (the snapshot disappears at once, atomically,
for every reader), then every object in its folder.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lake import catalog, layout
from lake.coverage import coverage
from lake.fileio import FileIO, confined
from lake.locks import first_lock
from lake.progress import NullListener, ProgressListener
from schemas.errors import DdbLakeError, UsageError

Bucket = Callable[[str, datetime], Hashable]
_RULES: tuple[tuple[str, Bucket], ...] = (
    ("last", lambda sid, t: sid),
    ("daily", lambda sid, t: t.date()),
    ("weekly", lambda sid, t: t.isocalendar()[:2]),
    ("monthly", lambda sid, t: (t.year, t.month)),
)


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0

    def __post_init__(self) -> None:
        counts = self.counts()
        for name, value in counts.items():
            if value < 0:
                raise UsageError(f"--keep-{name} must be 0 or more (got {value})")
        if not any(counts.values()):
            raise UsageError("the retention policy keeps nothing",
                             hint="give at least one of --keep-last, --keep-daily, "
                                  "--keep-weekly, --keep-monthly")

    def counts(self) -> dict[str, int]:
        return {"last": self.keep_last, "daily": self.keep_daily,
                "weekly": self.keep_weekly, "monthly": self.keep_monthly}


def gfs_keep(ids: list[str], policy: RetentionPolicy) -> dict[str, list[str]]:
    """For each snapshot id, the GFS rules that keep it (empty list = not kept by GFS)."""
    ordered = sorted(ids, reverse=True)
    reasons: dict[str, list[str]] = {sid: [] for sid in ordered}
    counts = policy.counts()
    for name, bucket_of in _RULES:
        seen: set[Hashable] = set()
        for sid in ordered:
            if len(seen) >= counts[name]:
                break
            bucket = bucket_of(sid, layout.id_time(sid))
            if bucket not in seen:
                seen.add(bucket)
                reasons[sid].append(name)
    return reasons


@dataclass(frozen=True)
class Decision:
    table: str
    snapshot_id: str
    keep: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "snapshot": self.snapshot_id,
                "action": "keep" if self.keep else "delete", "why": ", ".join(self.reasons)}


@dataclass
class PrunePlan:
    decisions: list[Decision] = field(default_factory=list)

    @property
    def to_delete(self) -> list[Decision]:
        return [d for d in self.decisions if not d.keep]

    @property
    def kept(self) -> list[Decision]:
        return [d for d in self.decisions if d.keep]


@dataclass
class PruneResult:
    deleted: list[str] = field(default_factory=list)
    objects: int = 0
    leftovers: list[str] = field(default_factory=list)
    iceberg_expired: int = 0  # Iceberg snapshots removed from the tables' metadata


def chain_bases(io: FileIO, table: str, ids: list[str],
                chain_gap: timedelta = timedelta(hours=24)) -> dict[str, str]:
    """Snapshot ids that change-log intervals need as their base, with the reason."""
    batches = [b for b in catalog.list_change_batches(io, table) if b.rows]
    batches.sort(key=lambda b: b.first_event_us)
    bases: dict[str, str] = {}
    end_us: int | None = None
    gap_us = int(chain_gap.total_seconds() * 1_000_000)
    for batch in batches:
        if end_us is None or batch.first_event_us > end_us + gap_us:
            start = datetime.fromtimestamp(batch.first_event_us / 1_000_000, UTC)
            before = [sid for sid in ids if layout.id_time(sid) <= start]
            if before:
                bases.setdefault(max(before), f"chain base of changes from {start:%Y-%m-%d %H:%M}")
        end_us = max(end_us or 0, batch.last_event_us)
    for sid, why in exact_bases(io, table).items():
        bases.setdefault(sid, why)
    return bases


def exact_bases(io: FileIO, table: str) -> dict[str, str]:
    """For each stretch of complete change log (``lake.coverage``), the snapshot whose exact
    interval comes first in it: deleting it would make that stretch's instants inexact
    (``as_of`` would replay from an older snapshot the log does not cover)."""
    cov = coverage(io, table)
    bases: dict[str, str] = {}
    for stretch in cov.log:
        first = next((i for i in cov.intervals
                      if stretch.start_us <= i.start_us <= stretch.end_us and i.base), None)
        if first is not None and first.base is not None:
            start = datetime.fromtimestamp(first.start_us / 1_000_000, UTC)
            bases.setdefault(first.base, f"base of exact as-of from {start:%Y-%m-%d %H:%M}")
    return bases


def plan_table(io: FileIO, table: str, policy: RetentionPolicy, *,
               now: datetime | None = None,
               chain_gap: timedelta = timedelta(hours=24)) -> list[Decision]:
    """What prune would do to one table's snapshots (newest first); reads, never writes."""
    ids = catalog.snapshot_ids(io, table)
    if not ids:
        return []
    damaged = catalog.read_snapshots(io, table).damaged
    if damaged:
        first = damaged[0]
        raise type(first.error)(
            f"prune deleted nothing: snapshot {first.snapshot_id} of {table} is damaged "
            f"({first.error.message})",
            hint=f"which snapshots the change log needs cannot be known; run `ddblake verify "
                 f"{first.snapshot_id} --lake {io.uri}`, then move its manifest out of the "
                 "lake and prune again")
    reasons = gfs_keep(ids, policy)
    reasons[max(ids)].append("newest")
    for sid, base in chain_bases(io, table, ids, chain_gap).items():
        reasons[sid].append(base)
    decisions = []
    for sid in sorted(ids, reverse=True):
        why = reasons[sid]
        if not why:
            lock = first_lock(io, _snapshot_keys(io, table, sid), now=now)
            if lock is not None:
                why.append(f"locked until {lock[1]:%Y-%m-%d %H:%M} ({lock[0]})")
        decisions.append(Decision(table, sid, bool(why), tuple(why)))
    return decisions


def plan_prune(io: FileIO, policy: RetentionPolicy, *, table: str | None = None,
               now: datetime | None = None,
               chain_gap: timedelta = timedelta(hours=24)) -> PrunePlan:
    """The prune plan for one table or every table of the lake."""
    if not table:
        catalog.check_lake(io)
    tables = [catalog.require_table(io, table)] if table else catalog.list_tables(io)
    return PrunePlan([d for t in tables
                      for d in plan_table(io, t, policy, now=now, chain_gap=chain_gap)])


def _snapshot_keys(io: FileIO, table: str, snapshot_id: str) -> list[str]:
    """The manifest, then every object in the snapshot's folder."""
    manifest = layout.snapshot_manifest(table, snapshot_id)
    others = [info.key for info in io.iter_objects(layout.snapshot_dir(table, snapshot_id))
              if info.key != manifest]
    return [manifest, *others]


def expire_iceberg(io: FileIO, doomed: list[Decision]) -> int:
    """Remove the doomed snapshots from the tables' published Iceberg metadata *before*
    their parts go (docs/iceberg.md), so no Iceberg reader is sent to a deleted part; a
    failure stops the prune before anything is deleted. Returns the snapshots removed."""
    by_table: dict[str, list[str]] = {}
    for d in doomed:
        by_table.setdefault(d.table, []).append(d.snapshot_id)
    expired = 0
    for table, ids in by_table.items():
        folder = layout.iceberg_table_prefix(table, "items") + "metadata/"
        if next(iter(io.iter_objects(folder)), None) is None:
            continue  # never published: nothing to expire (and no pyiceberg import)
        from lake.iceberg import withdraw

        result = withdraw(io, table, ids)
        expired += result.removed if result else 0
    return expired


def apply_prune(io: FileIO, plan: PrunePlan, *,
                listener: ProgressListener | None = None) -> PruneResult:
    """Delete the snapshots the plan marks: manifest first, then the rest of the folder.

    An object that cannot be deleted is listed in ``result.leftovers`` (the snapshot is
    already invisible by then); re-running prune does not see it, ``ddblake gc`` does.
    """
    listener = listener or NullListener()
    result = PruneResult()
    # Every key is listed and checked (lake.fileio.confined) before the first delete.
    doomed = [(d, [confined(k) for k in _snapshot_keys(io, d.table, d.snapshot_id)])
              for d in plan.to_delete]
    result.iceberg_expired = expire_iceberg(io, plan.to_delete)
    listener.started("prune", total=len(plan.to_delete), unit="snapshots")
    for decision, keys in doomed:
        io.delete(keys[0])  # the commit goes first: the snapshot is gone for every reader
        result.objects += 1
        for key in keys[1:]:
            try:
                io.delete(key)
                result.objects += 1
            except DdbLakeError as e:
                result.leftovers.append(f"{key}: {e.message}")
        result.deleted.append(decision.snapshot_id)
        listener.advanced("prune", 1)
    listener.finished("prune")
    return result
