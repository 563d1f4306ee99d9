"""What a restore is asked to do (:class:`RestoreConfig`) and what it did (:class:`RestoreResult`).

Both are frozen and plain (picklable), so worker processes receive the config as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from schemas.errors import DdbLakeError, RetriesExceeded, UsageError

Mode = Literal["put", "put-if-absent"]
Transport = Literal["auto", "botocore"]
FEATURES = frozenset({"ttl", "streams", "pitr", "tags", "deletion-protection"})
BILLING_MODES = frozenset({"PAY_PER_REQUEST", "PROVISIONED"})


@dataclass(frozen=True)
class RetryPolicy:
    """Our own retries of UnprocessedItems and throttled batches (above botocore's).

    A batch gets ``max_rounds`` rounds without progress; a round that writes at least one
    item starts the count again. Sleep before round ``i`` is full jitter:
    ``uniform(0, min(max_delay, base_delay * 2**i))``.
    """

    max_rounds: int = 10
    base_delay: float = 0.05
    max_delay: float = 5.0

    def __post_init__(self) -> None:
        if self.max_rounds < 1:
            raise UsageError(f"max_rounds must be at least 1, got {self.max_rounds}")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise UsageError(f"bad backoff delays {self.base_delay}..{self.max_delay}")


@dataclass(frozen=True)
class RestoreConfig:
    """One restore. ``table`` is the source table in the lake, ``target`` the DynamoDB table.

    Source: ``snapshot`` (an id or ``latest``), or ``as_of`` (an ISO timestamp).
    Selection (at most one besides ``where``): ``keys_file``, ``deleted_between``,
    ``changed_between``; ``where`` is a SQL predicate over the selection's columns.
    """

    lake: str
    target: str
    table: str | None = None
    snapshot: str = "latest"
    as_of: str | None = None
    where: str | None = None
    keys_file: str | None = None
    deleted_between: tuple[str, str] | None = None
    changed_between: tuple[str, str] | None = None
    existing: bool = False
    mode: Mode = "put"
    with_features: frozenset[str] = frozenset()
    billing_mode: str | None = None
    no_indexes: bool = False
    skip_expired: bool = False
    max_wcu: float | None = None
    workers: int | None = 1  # None: the engine's default (local: 1; Ray: the cluster's CPUs)
    threads: int = 4
    unit_rows: int = 20_000
    dry_run: bool = False
    sample: int = 3
    verify: bool = True
    resume: bool = False
    region: str | None = None
    profile: str | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    transport: Transport = "auto"
    engine: str = "local"  # local worker processes, or a Ray cluster (runtime.executor)

    def __post_init__(self) -> None:
        if self.engine not in ("local", "ray"):
            raise UsageError(f"unknown engine {self.engine!r}", hint="use --engine local or ray")
        chosen = [n for n, v in (("--keys", self.keys_file), ("--as-of", self.as_of),
                                 ("--deleted-between", self.deleted_between),
                                 ("--changed-between", self.changed_between)) if v]
        if len(chosen) > 1:
            raise UsageError(f"choose one of {', '.join(chosen)}",
                             hint="combine a selection with --where to narrow it further")
        if self.as_of and self.snapshot != "latest":
            raise UsageError("--as-of and --snapshot exclude each other",
                             hint="--as-of picks the snapshot and change logs by itself")
        if self.transport not in ("auto", "botocore"):
            raise UsageError(f"unknown transport {self.transport!r}", hint="auto or botocore")
        if self.mode not in ("put", "put-if-absent"):
            raise UsageError(f"unknown mode {self.mode!r}", hint="use put or put-if-absent")
        unknown = set(self.with_features) - FEATURES
        if unknown:
            raise UsageError(f"unknown --with feature(s): {', '.join(sorted(unknown))}",
                             hint=f"choose from {', '.join(sorted(FEATURES))}")
        if self.billing_mode and self.billing_mode not in BILLING_MODES:
            raise UsageError(f"unknown billing mode {self.billing_mode!r}",
                             hint="use PAY_PER_REQUEST or PROVISIONED")
        if self.max_wcu is not None and self.max_wcu <= 0:
            raise UsageError(f"--max-wcu must be positive, got {self.max_wcu}")
        for name in ("workers", "threads", "unit_rows"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.existing and (self.with_features or self.billing_mode or self.no_indexes):
            raise UsageError("--with, --billing-mode and --no-indexes shape a NEW table",
                             hint="drop them when restoring into an existing table")


@dataclass(frozen=True)
class Verification:
    """The target compared with what was written: counts and order-independent digests
    (numbers compared by value)."""

    method: str
    expected_items: int
    found_items: int
    expected_digest: str
    found_digest: str
    missing: int = 0
    different: int = 0

    @property
    def ok(self) -> bool:
        return (self.expected_items == self.found_items and self.missing == 0
                and self.expected_digest == self.found_digest)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "method": self.method, "expected_items": self.expected_items,
                "found_items": self.found_items, "expected_digest": self.expected_digest,
                "found_digest": self.found_digest, "missing": self.missing,
                "different": self.different}


@dataclass(frozen=True)
class RestoreResult:
    restore_id: str
    source_table: str
    snapshot_id: str | None
    target: str
    selection: str
    created_table: bool
    selected: int
    written: int = 0
    written_earlier: int = 0
    skipped_existing: int = 0
    skipped_expired: int = 0
    dead_letters: int = 0
    dead_letter_uri: str | None = None
    units: int = 0
    units_resumed: int = 0
    requests: int = 0
    retry_rounds: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    sample: tuple[str, ...] = ()
    verification: Verification | None = None
    keys_unmatched: int | None = None  # distinct keys of --keys that matched no item
    engine: str = "local"
    units_per_node: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.dead_letters == 0 and (self.verification is None or self.verification.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "restore_id": self.restore_id, "source_table": self.source_table,
            "snapshot": self.snapshot_id, "target": self.target, "selection": self.selection,
            "created_table": self.created_table, "dry_run": self.dry_run,
            "selected": self.selected, "written": self.written,
            "written_earlier": self.written_earlier,
            "skipped_existing": self.skipped_existing, "skipped_expired": self.skipped_expired,
            "dead_letters": self.dead_letters, "dead_letter_uri": self.dead_letter_uri,
            "units": self.units, "units_resumed": self.units_resumed,
            "requests": self.requests, "retry_rounds": self.retry_rounds,
            "seconds": round(self.seconds, 3),
            "verification": self.verification.to_dict() if self.verification else None,
            **({"keys_unmatched": self.keys_unmatched}
               if self.keys_unmatched is not None else {}),
            "engine": self.engine, "units_per_node": dict(self.units_per_node),
            **({"sample": list(self.sample)} if self.dry_run else {}),
        }


class TargetExistsError(DdbLakeError):
    """The target table exists and the restore would create it."""

    exit_code = 2


class KeySchemaMismatch(DdbLakeError):
    """The existing target's key schema differs from the snapshot's."""

    exit_code = 2


class RestoreIncomplete(RetriesExceeded):
    """Some items could not be written (they are in the dead-letter files), or the
    verification found a difference. ``result`` is the full summary."""

    def __init__(self, message: str, result: RestoreResult, *, hint: str) -> None:
        super().__init__(message, remaining=result.dead_letters, hint=hint)
        self.result = result
