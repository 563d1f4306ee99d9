"""What one scan export is asked to do (:class:`ExportConfig`) and what it did
(:class:`ExportResult`).

Part size: ``target_part_mb`` counts the canonical DynamoDB JSON of the items in a part
(the codec's ``item_bytes``), not the Parquet file size. It bounds the memory a worker holds
(the part is built in memory before it is written); the zstd Parquet file comes out at
about 30 % of that figure (bench/scan: 180.9 MB of Parquet for 579 MB of item JSON at 1M
items). Parts are cut at Scan page boundaries (about 1 MB each), so a checkpoint's
``LastEvaluatedKey`` always matches the last part written.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from lake.layout import check_table_name
from schemas.errors import UsageError
from schemas.manifest import Manifest

MAX_SEGMENTS = 1_000_000
AUTO_SEGMENT_BYTES = 128 * 1024 * 1024
DEFAULT_TARGET_MB = 8.0  # bench/scan: 2 workers stay under 500 MB (PSS) at 1M items


@dataclass(frozen=True)
class ExportConfig:
    """One scan export. ``segments``/``workers`` of ``None`` mean "pick from the table and
    the machine" (with ``engine="ray"``: the cluster's CPUs). ``workers == 1`` runs every
    segment in the calling process (no pool), which is also what tests use with in-process
    moto."""

    table: str
    lake: str
    segments: int | None = None
    workers: int | None = None
    consistent_read: bool = False
    max_rcu: float | None = None
    target_part_mb: float = DEFAULT_TARGET_MB
    resume: bool = False
    profile: str | None = None
    region: str | None = None
    retry_deadline_s: float = 300.0
    page_limit: int | None = None
    # Data parts only (see lake.locks.export_options): cold class, SSE-KMS, Object Lock.
    storage_class: str | None = None
    kms_key: str | None = None
    lock_mode: str | None = None
    lock_days: int | None = None
    engine: str = "local"  # runtime.executor.ENGINES: local worker processes, or Ray
    lake_format: int = 2  # docs/decisions/005-lake-format-2.md; 1 writes the old format

    def __post_init__(self) -> None:
        check_table_name(self.table)
        if self.engine not in ("local", "ray"):
            raise UsageError(f"unknown engine {self.engine!r}", hint="use --engine local or ray")
        if self.lake_format not in (1, 2):
            raise UsageError(f"lake_format must be 1 or 2, not {self.lake_format!r}")
        if not self.lake:
            raise UsageError("no lake given", hint="pass --lake PATH or --lake s3://BUCKET/PREFIX")
        _check_range("segments", self.segments, 1, MAX_SEGMENTS)
        _check_range("workers", self.workers, 1, 1024)
        _check_range("page_limit", self.page_limit, 1, 1_000_000)
        if self.max_rcu is not None and not (self.max_rcu > 0 and math.isfinite(self.max_rcu)):
            raise UsageError(f"max_rcu must be a positive number, not {self.max_rcu!r}",
                             hint="e.g. --max-rcu 500 (read capacity units per second)")
        if not (self.target_part_mb > 0 and math.isfinite(self.target_part_mb)):
            raise UsageError(f"target_part_mb must be positive, not {self.target_part_mb!r}",
                             hint="e.g. --target-file-mb 64")
        if not self.retry_deadline_s > 0:
            raise UsageError(f"retry_deadline_s must be positive, not {self.retry_deadline_s!r}")

    @property
    def target_part_bytes(self) -> int:
        return max(1, int(self.target_part_mb * 1024 * 1024))

    def resolve_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def resolve_segments(self, table_bytes: int | None, workers: int) -> int:
        """``auto``: one segment per 128 MiB of table, at least two per worker (so an
        uneven segment does not leave a core idle)."""
        if self.segments:
            return self.segments
        by_size = math.ceil((table_bytes or 0) / AUTO_SEGMENT_BYTES)
        return max(1, min(MAX_SEGMENTS, max(2 * workers, by_size)))


def _check_range(name: str, value: int | None, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"{name} must be a whole number from {low} to {high}, not {value!r}",
                         hint=f"pass a valid --{name.replace('_', '-')}")


@dataclass(frozen=True)
class ExportResult:
    """The committed snapshot and how the run went."""

    manifest: Manifest
    lake: str
    segments: int
    workers: int
    seconds: float
    resumed: bool
    consumed_rcu: float
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def snapshot_id(self) -> str:
        return self.manifest.snapshot_id

    def to_dict(self) -> dict[str, Any]:
        totals = self.manifest.totals
        rate = totals.items / self.seconds if self.seconds > 0 else 0.0
        return {
            "snapshot_id": self.snapshot_id, "table": self.manifest.table, "lake": self.lake,
            "items": totals.items, "parts": len(self.manifest.parts), "bytes": totals.bytes,
            "item_bytes": totals.item_bytes, "content_digest": totals.content_digest,
            "segments": self.segments, "workers": self.workers, "resumed": self.resumed,
            "seconds": round(self.seconds, 3), "items_per_s": round(rate, 1),
            "consumed_rcu": round(self.consumed_rcu, 1),
            "scan_start": self.manifest.consistency.start,
            "scan_end": self.manifest.consistency.end, **self.stats,
        }
