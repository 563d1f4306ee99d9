"""Restore drills: prove that a table's latest snapshot really restores.

A drill (1) verifies the snapshot deeply (every part and row hash, counts, digests), (2)
restores it into a temporary table, (3) compares the restored table with the snapshot (the
restorer's read-back: item count and an order-independent digest with numbers compared by
value; and the count against the manifest), (4) deletes the temporary table, and (5) records
the outcome in the lake (``<table>/state/drills/<drill-id>.json``) so ``ddblake snapshots``
can show when each table was last proven restorable. A failed drill is recorded too, then
raised as an error. The restore of step (2) checks every part again as it reads it (it reads
only its own verified copies), so a part changed between (1) and (2) is refused, not
restored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lake import catalog, layout
from lake.archive import require_readable
from lake.aws import make_client, make_session
from lake.drills import drills, last_passed, record_drill
from lake.fileio import FileIO, load_file_io
from lake.progress import NullListener, ProgressListener
from lake.verify import Distributed, verify_snapshot
from restorer.config import RestoreConfig
from restorer.restore import restore
from runtime.executor import make_executor
from schemas.errors import CorruptDataError, DdbLakeError

__all__ = ["DrillConfig", "DrillResult", "drill", "drills", "last_passed"]


@dataclass(frozen=True)
class DrillConfig:
    lake: str
    table: str | None = None
    snapshot: str = "latest"
    target: str | None = None
    keep_table: bool = False
    profile: str | None = None
    region: str | None = None
    engine: str = "local"  # where the deep verify and the restore run (runtime.executor)


@dataclass
class DrillResult:
    drill_id: str
    table: str
    snapshot_id: str
    target: str
    started_at: str
    outcome: str = "failed"
    seconds: float = 0.0
    manifest_items: int = 0
    restored_items: int = 0
    expected_digest: str = ""
    found_digest: str = ""
    checks: dict[str, bool] = field(default_factory=dict)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {"drill_id": self.drill_id, "table": self.table, "snapshot": self.snapshot_id,
                "target": self.target, "started_at": self.started_at, "outcome": self.outcome,
                "seconds": round(self.seconds, 3), "manifest_items": self.manifest_items,
                "restored_items": self.restored_items, "expected_digest": self.expected_digest,
                "found_digest": self.found_digest, "checks": self.checks, "error": self.error}

    def summary(self) -> dict[str, Any]:
        """What a person reads after a drill: no ``error`` line when there was none (a
        passed drill must not print ``error:``)."""
        shown = self.to_dict()
        if shown["error"] is None:
            del shown["error"]
        return shown


def drill(config: DrillConfig, *, session: Any = None,
          listener: ProgressListener | None = None) -> DrillResult:
    """Run one drill; returns the recorded result when it passed, raises when it failed
    (the failure is recorded first)."""
    listener = listener or NullListener()
    session = session or make_session(config.profile, config.region)
    io = load_file_io(config.lake, session=session)
    manifest = catalog.find_snapshot(io, config.snapshot, config.table)
    require_readable(io, manifest)
    drill_id = layout.new_id()
    target = config.target or f"{manifest.table}-drill-{drill_id.lower()}"[:255]
    result = DrillResult(drill_id, manifest.table, manifest.snapshot_id, target,
                         datetime.now(UTC).isoformat(timespec="seconds"),
                         manifest_items=manifest.totals.items)
    started = time.monotonic()
    failure: DdbLakeError | None = None
    try:
        _run(io, config, result, session, listener)
    except DdbLakeError as e:
        failure = e
        result.error = e.message
    finally:
        if not config.keep_table:
            _drop(session, target, listener)
        result.seconds = time.monotonic() - started
    result.outcome = "passed" if failure is None and all(result.checks.values()) else "failed"
    record(io, result)
    if failure is not None:
        raise failure
    if not result.passed:
        failed = ", ".join(k for k, ok in result.checks.items() if not ok)
        raise CorruptDataError(f"drill of {result.table} failed: {failed}",
                               hint="the snapshot does not restore to what it recorded; "
                                    "keep older snapshots and re-export the table")
    return result


def _run(io: FileIO, config: DrillConfig, result: DrillResult, session: Any,
         listener: ProgressListener) -> None:
    listener.message(f"drill {result.table}: verifying snapshot {result.snapshot_id}")
    distributed = None
    if config.engine != "local":
        distributed = Distributed(make_executor(config.engine, None), config.profile,
                                  config.region)
    verified = verify_snapshot(io, result.table, result.snapshot_id, deep=True,
                               listener=listener, distributed=distributed)
    result.checks["snapshot verifies"] = verified.ok
    error = verified.error()
    if error is not None:
        raise error
    listener.message(f"drill {result.table}: restoring into {result.target}")
    restored = restore(RestoreConfig(lake=config.lake, target=result.target, table=result.table,
                                     snapshot=result.snapshot_id, profile=config.profile,
                                     region=config.region, engine=config.engine,
                                     workers=None if config.engine != "local" else 1),
                       session=session, listener=listener)
    check = restored.verification
    result.restored_items = check.found_items if check else restored.written
    result.expected_digest = check.expected_digest if check else ""
    result.found_digest = check.found_digest if check else ""
    result.checks["count matches manifest"] = result.restored_items == result.manifest_items
    result.checks["restored table matches snapshot"] = bool(check and check.ok)


def _drop(session: Any, target: str, listener: ProgressListener) -> None:
    """Delete the temporary table (absent is fine: the restore may have failed before)."""
    from botocore.exceptions import BotoCoreError, ClientError

    ddb = make_client("dynamodb", session)
    try:
        ddb.delete_table(TableName=target)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            listener.message(f"could not delete the drill table {target}: {e}; delete it "
                             "by hand")
    except BotoCoreError as e:
        listener.message(f"could not delete the drill table {target}: {e}")


def record(io: FileIO, result: DrillResult) -> None:
    record_drill(io, result.table, result.drill_id, result.to_dict())
