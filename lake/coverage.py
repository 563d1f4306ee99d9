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
Gaps come from the batches (``source.gaps``: data trimmed from a stream before it was read)
and from holes between stretches of log. Batches without coverage fields count for nothing
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


def _batch_spans(batches: list[ChangeBatch]) -> tuple[list[Interval], list[Gap]]:
    spans: list[Interval] = []
    gaps: list[Gap] = []
    lambda_spans: dict[str, Interval] = {}
    for batch in batches:
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


def exact_intervals(snapshots: list[Manifest], log: list[Interval]) -> list[Interval]:
    """Per snapshot, the part of its exact interval before the next snapshot takes over."""
    ordered = sorted(snapshots, key=lambda m: (iso_us(m.consistency.end), m.snapshot_id))
    out = []
    for i, m in enumerate(ordered):
        exact = _snapshot_interval(m, log)
        if i + 1 < len(ordered):
            following = iso_us(ordered[i + 1].consistency.end)
            if following <= exact.start_us:
                continue  # the same point: the later snapshot rules
            exact = Interval(exact.start_us, min(exact.end_us, following - 1), exact.base)
        if exact.end_us >= exact.start_us:
            out.append(exact)
    return out


def coverage(io: FileIO, table: str) -> Coverage:
    """What ``as_of`` can rebuild exactly for ``table``, and the gaps in its change log."""
    spans, recorded = _batch_spans(catalog.list_change_batches(io, table))
    raw = merge(spans + _state_spans(io, table))
    log = merge(subtract(raw, recorded))
    gaps = sorted(recorded + _holes(raw), key=lambda g: (g.start_us, g.end_us))
    intervals = exact_intervals(catalog.read_snapshots(io, table).manifests, log)
    return Coverage(table, tuple(intervals), tuple(gaps), tuple(log))


def describe(cov: Coverage) -> dict[str, Any]:
    """A JSON-friendly summary: instants as ISO 8601 UTC (ms)."""
    def iso(us: int) -> str:
        return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat(timespec="milliseconds")

    return {"table": cov.table,
            "exact": [{"from": iso(i.start_us), "to": iso(i.end_us), "base": i.base}
                      for i in cov.intervals],
            "gaps": [{"from": iso(g.start_us), "to": iso(g.end_us), "reason": g.reason}
                     for g in cov.gaps],
            "log": [{"from": iso(i.start_us), "to": iso(i.end_us)} for i in cov.log]}
