"""Which instants of a table's history the lake can rebuild exactly, and where the gaps are.

``as_of(ts)`` starts from the latest snapshot whose consistency point is at or before ``ts``
and replays the change log from that snapshot's consistency start (a fuzzy scan) or its exact
time. The result is exact when the change log is complete over the replayed span, so:

* an ``exact`` snapshot at ``p`` is exact at ``p``, and on to wherever the log that covers
  ``p`` ends;
* a ``fuzzy`` snapshot (scan window ``s``..``e``) is exact from ``e`` once one stretch of
  complete log covers ``s``..``e``, and on to where that stretch ends;
* each snapshot rules only until the next snapshot's consistency point (``as_of`` then starts
  from the later one).

Where the log is complete comes from the committed change batches (``source.covered_from_us``
..``covered_to_us``, written by the stream consumer and the Lambda handler) and from the stream
consumer's checkpoints (``state/stream/*.json``: coverage moved on by idle polls, no batch).
Imported incremental native exports (``source.kind == "incremental_export"``) count as log
over their window ``[from, to)`` once every batch of the export is committed (their rows add
up to ``source.export_items``). Such a window is compacted (one record per changed key, its
last write), so the instants between its start and its last write are not exact; they are
listed as ``compacted`` and cut from the exact intervals (from the window's last write to its
end, the state is exact again).

Gaps come from the batches (``source.gaps``: data trimmed from a stream before it was read),
from holes between stretches of log, from the stretch between the latest snapshot before the
log starts and that start (e.g. a full export at 10:18:50 and a first incremental window
from 10:20:00), and from a table re-created between two native exports (another
``tableId``). Batches without coverage fields count for nothing
(they never make an instant look exact). Lambda batches carry only the span of their own
events; consecutive Lambda batches of one stream are assumed to be contiguous (Lambda reads a
shard in order and retries a failed batch until it succeeds or the records expire).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import orjson

from lake import catalog, layout
from lake.fileio import FileIO
from schemas.changes import ChangeBatch
from schemas.manifest import Manifest


@dataclass(frozen=True)
class Interval:
    """``start_us``..``end_us`` (inclusive, µs since the epoch), rebuilt from ``base``."""

    start_us: int
    end_us: int
    base: str | None = None


@dataclass(frozen=True)
class Gap:
    start_us: int
    end_us: int
    reason: str


@dataclass(frozen=True)
class Coverage:
    table: str
    intervals: tuple[Interval, ...]  # exactly reconstructible instants
    gaps: tuple[Gap, ...]  # where changes may be missing from the log
    log: tuple[Interval, ...]  # where the change log is complete
    compacted: tuple[Gap, ...] = ()  # complete only per key's last write: not exact

    def exact_at(self, ts_us: int) -> bool:
        return any(i.start_us <= ts_us <= i.end_us for i in self.intervals)


def iso_us(text: str) -> int:
    """ISO 8601 (``Z`` or offset) -> µs since the epoch."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (int(when.timestamp()) * 1_000_000) + when.microsecond


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def iso_text(us: int) -> str:
    """µs since the epoch -> ISO 8601 UTC with milliseconds."""
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat(timespec="milliseconds")


def _batch_spans(batches: list[ChangeBatch]) -> tuple[list[Interval], list[Gap]]:
    spans: list[Interval] = []
    gaps: list[Gap] = []
    lambda_spans: dict[str, Interval] = {}
    for batch in batches:
        if batch.source.get("kind") == EXPORT_KIND:
            continue  # counted per export (_export_spans)
        start = _int(batch.source.get("covered_from_us"))
        end = _int(batch.source.get("covered_to_us"))
        for g in batch.source.get("gaps") or []:
            gaps.append(Gap(int(g["from_us"]), int(g["to_us"]), str(g.get("reason", "gap"))))
        if start is None or end is None or end < start:
            continue
        if batch.source.get("kind") == "lambda":
            stream = str(batch.source.get("stream_arn"))
            seen = lambda_spans.get(stream)
            lambda_spans[stream] = Interval(min(start, seen.start_us) if seen else start,
                                            max(end, seen.end_us) if seen else end)
        else:
            spans.append(Interval(start, end))
    return spans + list(lambda_spans.values()), gaps


EXPORT_KIND = "incremental_export"


def complete_exports(batches: list[ChangeBatch]) -> list[list[ChangeBatch]]:
    """The batches of each incremental export whose batches are all committed."""
    by_export: dict[str, list[ChangeBatch]] = {}
    for batch in batches:
        if batch.source.get("kind") == EXPORT_KIND and batch.source.get("export_arn"):
            by_export.setdefault(str(batch.source["export_arn"]), []).append(batch)
    return [group for _, group in sorted(by_export.items())
            if _int(group[0].source.get("export_items")) == sum(b.rows for b in group)]


def _export_spans(batches: list[ChangeBatch]) -> tuple[list[Interval], list[Gap]]:
    """Windows of completely imported incremental exports (log), and the part of each
    before its last write (compacted)."""
    spans: list[Interval] = []
    compacted: list[Gap] = []
    for group in complete_exports(batches):
        source = group[0].source
        start, end = _int(source.get("covered_from_us")), _int(source.get("covered_to_us"))
        if start is None or end is None or end < start:
            continue
        spans.append(Interval(start, end))
        last = max((b.last_event_us for b in group if b.rows), default=start)
        if last > start:
            export_id = str(source["export_arn"]).rsplit("/", 1)[-1]
            compacted.append(Gap(start, min(last, end + 1) - 1,
                                 f"incremental export {export_id} keeps only the last change "
                                 f"of each key in its window: exact from its last write at "
                                 f"{iso_text(last)}"))
    return spans, compacted


def _table_ids(snapshots: list[Manifest], batches: list[ChangeBatch]) -> list[tuple[int, str]]:
    """``(start µs, tableId)`` of every native export the lake holds."""
    found = []
    for m in snapshots:
        native = m.extra.get("native_export") if isinstance(m.extra, dict) else None
        if isinstance(native, dict) and isinstance(native.get("table_id"), str):
            found.append((iso_us(m.consistency.end), native["table_id"]))
    for group in complete_exports(batches):
        start, table_id = _int(group[0].source.get("covered_from_us")), group[0].source.get(
            "table_id")
        if start is not None and isinstance(table_id, str):
            found.append((start, table_id))
    return sorted(found)


def _recreated(snapshots: list[Manifest], batches: list[ChangeBatch],
               raw: list[Interval]) -> list[Gap]:
    """A table re-created between two native exports (another ``tableId``): its deletion is
    in no log, so the log is cut just before the new table's first export."""
    first: dict[str, int] = {}
    for start, table_id in _table_ids(snapshots, batches):
        first.setdefault(table_id, start)
    order = sorted(first.items(), key=lambda kv: (kv[1], kv[0]))
    gaps = []
    for (old, _), (new, at) in pairwise(order):
        if any(s.start_us <= at - 1 <= s.end_us for s in raw):
            gaps.append(Gap(at - 1, at - 1, f"table re-created (tableId {old}, then {new})"))
    return gaps


def _before_log(snapshots: list[Manifest], raw: list[Interval]) -> list[Gap]:
    """From the latest snapshot before the change log starts to that start."""
    if not raw:
        return []
    start = raw[0].start_us
    points = [(iso_us(m.consistency.end), m.snapshot_id) for m in snapshots]
    before = [p for p in points if p[0] < start - 1]
    if not before:
        return []
    point, sid = max(before)
    return [Gap(point + 1, start - 1, f"no change log from snapshot {sid} to the start of "
                                      "the change log")]


def _state_spans(io: FileIO, table: str) -> list[Interval]:
    """Coverage the stream consumer recorded in its checkpoints (idle polls move it on)."""
    spans = []
    for info in io.iter_objects(layout.state_key(table, "stream/")):
        if not info.key.endswith(".json"):
            continue
        try:
            state = orjson.loads(io.read(info.key))
        except orjson.JSONDecodeError:
            continue
        start = _int(state.get("batch_to_us")) or _int(state.get("covered_from_us"))
        end = _int(state.get("covered_to_us"))
        if start is not None and end is not None and end >= start:
            spans.append(Interval(start, end))
    return spans


def merge(spans: list[Interval]) -> list[Interval]:
    """Union of spans; touching spans join (one ending at t and the next starting at t + 1 µs
    leave no hole between them)."""
    merged: list[Interval] = []
    for span in sorted(spans, key=lambda s: (s.start_us, s.end_us)):
        if merged and span.start_us <= merged[-1].end_us + 1:
            last = merged[-1]
            merged[-1] = Interval(last.start_us, max(last.end_us, span.end_us))
        else:
            merged.append(Interval(span.start_us, span.end_us))
    return merged


def subtract(spans: list[Interval], gaps: list[Gap]) -> list[Interval]:
    """``spans`` with every gap cut out (a gap's ends are lost too)."""
    out = spans
    for gap in gaps:
        cut: list[Interval] = []
        for s in out:
            if gap.end_us < s.start_us or gap.start_us > s.end_us:
                cut.append(s)
                continue
            if s.start_us < gap.start_us:
                cut.append(Interval(s.start_us, gap.start_us - 1))
            if s.end_us > gap.end_us:
                cut.append(Interval(gap.end_us + 1, s.end_us))
        out = cut
    return out


def _holes(log: list[Interval]) -> list[Gap]:
    return [Gap(a.end_us + 1, b.start_us - 1, "no change log")
            for a, b in pairwise(log) if b.start_us > a.end_us + 1]


def _snapshot_interval(m: Manifest, log: list[Interval]) -> Interval:
    point = iso_us(m.consistency.end)
    start = iso_us(m.consistency.start) if m.consistency.kind == "fuzzy" else point
    reach = next((s.end_us for s in log if s.start_us <= start and s.end_us >= point), None)
    if reach is None:  # no complete log over the replayed span
        return Interval(point, point if m.consistency.kind == "exact" else point - 1,
                        m.snapshot_id)
    return Interval(point, reach, m.snapshot_id)


def exact_intervals(snapshots: list[Manifest], log: list[Interval],
                    compacted: list[Gap] | tuple[Gap, ...] = ()) -> list[Interval]:
    """Per snapshot, the part of its exact interval before the next snapshot takes over,
    without the compacted stretches after its point (an exact snapshot is exact at its point
    whatever a window around it holds; a fuzzy one is not)."""
    ordered = sorted(snapshots, key=lambda m: (iso_us(m.consistency.end), m.snapshot_id))
    out = []
    for i, m in enumerate(ordered):
        exact = _snapshot_interval(m, log)
        if i + 1 < len(ordered):
            following = iso_us(ordered[i + 1].consistency.end)
            if following <= exact.start_us:
                continue  # the same point: the later snapshot rules
            exact = Interval(exact.start_us, min(exact.end_us, following - 1), exact.base)
        if exact.end_us < exact.start_us:
            continue
        keep = exact.start_us + (1 if m.consistency.kind == "exact" else 0)
        cuts = [Gap(max(c.start_us, keep), c.end_us, c.reason) for c in compacted
                if c.end_us >= keep]
        out += [Interval(p.start_us, p.end_us, exact.base)
                for p in subtract([exact], cuts)]
    return out


def coverage(io: FileIO, table: str) -> Coverage:
    """What ``as_of`` can rebuild exactly for ``table``, and the gaps in its change log."""
    batches = catalog.list_change_batches(io, table)
    snapshots = catalog.read_snapshots(io, table).manifests
    spans, recorded = _batch_spans(batches)
    windows, compacted = _export_spans(batches)
    raw = merge(spans + windows + _state_spans(io, table))
    recorded += _recreated(snapshots, batches, raw)
    log = merge(subtract(raw, recorded))
    gaps = sorted(recorded + _holes(raw) + _before_log(snapshots, raw),
                  key=lambda g: (g.start_us, g.end_us, g.reason))
    compacted.sort(key=lambda g: (g.start_us, g.end_us, g.reason))
    intervals = exact_intervals(snapshots, log, compacted)
    return Coverage(table, tuple(intervals), tuple(gaps), tuple(log), tuple(compacted))


def describe(cov: Coverage) -> dict[str, Any]:
    """A JSON-friendly summary: instants as ISO 8601 UTC (ms)."""
    iso = iso_text
    return {"table": cov.table,
            "exact": [{"from": iso(i.start_us), "to": iso(i.end_us), "base": i.base}
                      for i in cov.intervals],
            "gaps": [{"from": iso(g.start_us), "to": iso(g.end_us), "reason": g.reason}
                     for g in cov.gaps],
            "log": [{"from": iso(i.start_us), "to": iso(i.end_us)} for i in cov.log],
            "compacted": [{"from": iso(g.start_us), "to": iso(g.end_us), "reason": g.reason}
                          for g in cov.compacted]}
