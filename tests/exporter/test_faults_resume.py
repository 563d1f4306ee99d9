"""Faults injected at botocore's wire level: survived, or failed cleanly with resumable
state; --resume then gives the same content digest as an uninterrupted export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from exporter import ExportConfig, export_table
from exporter.state import pending_exports
from lake import catalog, layout
from lake.fileio import LocalFileIO
from schemas.errors import AwsError, CredentialsError, NotFoundError, RetriesExceeded
from tests.exporter.support import FaultInjector, no_backoff
from tests.helpers import REGION, create_table, put_items

N = 240


@pytest.fixture
def table(ddb: Any) -> str:
    create_table(ddb, "faulty", sk=("sk", "N"))
    put_items(ddb, "faulty", [{"pk": {"S": f"p{i % 37}"}, "sk": {"N": str(i)},
                               "v": {"S": "x" * (i % 50)}} for i in range(N)])
    return "faulty"


def _session(injector: FaultInjector | None = None) -> boto3.Session:
    session = boto3.Session(region_name=REGION)
    if injector is not None:
        session.events.register_first("before-send.dynamodb.Scan", injector)
    return session


def _config(lake: Path, **kwargs: Any) -> ExportConfig:
    values: dict[str, Any] = {"table": "faulty", "lake": str(lake), "workers": 1,
                              "segments": 3, "page_limit": 20, "target_part_mb": 0.001}
    values.update(kwargs)
    return ExportConfig(**values)


def _clean_digest(tmp_path: Path) -> str:
    result = export_table(_config(tmp_path / "clean"), session=_session())
    assert result.manifest.totals.items == N
    return result.manifest.totals.content_digest


@pytest.mark.parametrize("fault", ["throttle", "500", "reset"])
def test_transient_faults_are_survived(table: str, lake_dir: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    no_backoff(monkeypatch)
    injector = FaultInjector([None, fault, fault, None, None, fault] * 3)
    result = export_table(_config(lake_dir), session=_session(injector))
    assert injector.calls > result.stats["pages"]  # the faults really happened
    assert result.manifest.totals.items == N
    assert result.manifest.totals.content_digest == _clean_digest(tmp_path)


def test_sustained_throttling_fails_cleanly_then_resumes(table: str, lake_dir: Path,
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    no_backoff(monkeypatch)
    injector = FaultInjector(after=5, forever="throttle")
    with pytest.raises(RetriesExceeded) as info:
        export_table(_config(lake_dir, retry_deadline_s=0.05), session=_session(injector))
    assert "--resume" in (info.value.hint or "")
    io = LocalFileIO(lake_dir)
    assert catalog.snapshot_ids(io, "faulty") == []
    [pending] = pending_exports(io, "faulty")
    parts = list(io.iter_objects(layout.snapshot_dir("faulty", pending)))
    assert parts, "some parts were written before the throttling"
    result = export_table(_config(lake_dir, resume=True), session=_session())
    assert result.resumed and result.snapshot_id == pending
    assert result.stats["scanned_this_run"] < N  # it continued, it did not start over
    assert result.manifest.totals.items == N
    assert result.manifest.totals.content_digest == _clean_digest(tmp_path)
    assert pending_exports(io, "faulty") == []


@pytest.mark.parametrize("after", [0, 3, 9])
def test_expired_credentials_fail_then_resume(table: str, lake_dir: Path, tmp_path: Path,
                                              after: int) -> None:
    injector = FaultInjector(after=after, forever="expired")
    with pytest.raises(CredentialsError) as info:
        export_table(_config(lake_dir), session=_session(injector))
    assert "--resume" in (info.value.hint or "")
    assert catalog.snapshot_ids(LocalFileIO(lake_dir), "faulty") == []
    result = export_table(_config(lake_dir, resume=True), session=_session())
    assert result.manifest.totals.content_digest == _clean_digest(tmp_path)


def test_access_denied_has_hint(table: str, lake_dir: Path) -> None:
    with pytest.raises(AwsError) as info:
        export_table(_config(lake_dir), session=_session(FaultInjector(forever="denied")))
    assert "access denied" in info.value.message and "IAM" in (info.value.hint or "")


def test_resume_twice_and_nothing_to_resume(table: str, lake_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no interrupted export"):
        export_table(_config(lake_dir, resume=True), session=_session())
    for after in (2, 6):  # interrupted twice, resumed once in between
        with pytest.raises(CredentialsError):
            export_table(_config(lake_dir, resume=after == 6),
                         session=_session(FaultInjector(after=after, forever="expired")))
    result = export_table(_config(lake_dir, resume=True), session=_session())
    assert result.manifest.totals.content_digest == _clean_digest(tmp_path)
    assert len(catalog.snapshot_ids(LocalFileIO(lake_dir), "faulty")) == 1
