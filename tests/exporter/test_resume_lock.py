"""``export --resume`` and the export's lock, in-process, on a local and an S3 lake: a
held export is refused and left untouched; leftovers of runs that died at awkward moments
never block a later resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from exporter import ExportConfig, export_table
from exporter.state import delete_state, export_lock_key, lock_export, pending_exports
from lake import catalog, layout
from lake.fileio import FileIO, load_file_io
from schemas.errors import BusyError, NotFoundError, RetriesExceeded
from tests.exporter.support import FaultInjector, no_backoff
from tests.helpers import REGION, create_table, put_items

N = 120


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, ddb: Any, s3: Any, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> str:
    no_backoff(monkeypatch)
    create_table(ddb, "held")
    put_items(ddb, "held", [{"pk": {"S": f"k{i:04d}"}, "v": {"N": str(i)}} for i in range(N)])
    if request.param == "local":
        return str(tmp_path / "lake")
    s3.create_bucket(Bucket="held-lake")
    return "s3://held-lake/lake"


def _config(lake: str, **kwargs: Any) -> ExportConfig:
    return ExportConfig(table="held", lake=lake, workers=1, segments=3, page_limit=10,
                        target_part_mb=0.001, **kwargs)


def _interrupt(lake: str) -> str:
    session = boto3.Session(region_name=REGION)
    session.events.register_first("before-send.dynamodb.Scan",
                                  FaultInjector(after=4, forever="throttle"))
    with pytest.raises(RetriesExceeded):
        export_table(_config(lake, retry_deadline_s=0.05), session=session)
    [pending] = pending_exports(_io(lake), "held")
    return pending


def _io(lake: str) -> FileIO:
    return load_file_io(lake, s3_client=boto3.client("s3", region_name=REGION))


def _state(io: FileIO, snapshot_id: str) -> dict[str, bytes]:
    return {o.key: io.read(o.key) for o in io.iter_objects(f"held/state/exports/{snapshot_id}/")
            if not o.key.endswith("lock.json")}


def test_a_held_export_is_refused_and_left_as_it_was(lake: str, tmp_path: Path) -> None:
    reference = export_table(_config(str(tmp_path / "clean"))).manifest.totals.content_digest
    pending = _interrupt(lake)
    io = _io(lake)
    saved = _state(io, pending)
    holder = lock_export(io, "held", pending)
    with pytest.raises(BusyError) as e:
        export_table(_config(lake, resume=True))
    assert e.value.exit_code == 10
    assert f"export {pending} of table held is already being run" in e.value.message
    assert _state(io, pending) == saved and catalog.snapshot_ids(io, "held") == []
    holder.release()
    result = export_table(_config(lake, resume=True))
    assert result.resumed and result.snapshot_id == pending
    assert result.manifest.totals.content_digest == reference
    assert pending_exports(io, "held") == []
    assert not io.exists(export_lock_key("held", pending))


def test_leftovers_of_dead_runs_do_not_block(lake: str) -> None:
    io = _io(lake)
    pending = _interrupt(lake)
    # a first run that died after taking its lock, before saving any state (newer id)
    newer = layout.new_id()
    lock_export(io, "held", newer).release()
    assert pending_exports(io, "held") == [pending, newer]
    result = export_table(_config(lake, resume=True))  # skips (and removes) the empty one
    assert result.snapshot_id == pending and pending_exports(io, "held") == []
    # a run that committed and died before deleting its state: cleaned up, nothing to resume
    committed = export_table(_config(lake)).snapshot_id
    lock_export(io, "held", committed).release()
    io.write(f"held/state/exports/{committed}/segment-0.json", b"{}")
    with pytest.raises(NotFoundError, match="no interrupted export"):
        export_table(_config(lake, resume=True))
    assert pending_exports(io, "held") == []
    delete_state(io, "held", committed)  # nothing left to delete: no error
