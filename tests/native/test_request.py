"""The request/poll flow against moto (request, token, polling, PITR, failures, resume).

moto's own export writes no manifests (reliability.md §4), so when moto reports an export
COMPLETED, a hook writes what DynamoDB really writes (the documented layout) at the export's
folder, built from the table's current items: the conversion then runs on real-layout files.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from exporter.export_chain import ChainBrokenError, load_chain
from exporter.native import ConvertConfig
from exporter.native_request import Clock, NativeExportConfig, export_full, export_incremental
from lake import catalog, layout
from lake.fileio import load_file_io
from schemas.dynamo_json import from_client, to_client, value_key
from schemas.errors import AwsError, RetriesExceeded, UsageError
from tests.helpers import REGION, create_table, put_items, scan_all
from tests.native.conftest import every_type_items, key_of
from tests.native.export_builder import ExportBuilder, S3Bucket, change_line

from .test_convert_full import snapshot_items

BUCKET = "lake-bucket"


class FakeClock(Clock):
    def __init__(self, start: datetime) -> None:
        self.at = start
        super().__init__(now=lambda: self.at, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        import time

        time.sleep(0.02)  # let moto's export thread move on
        self.at += timedelta(seconds=seconds)


class FakeDynamoDBExports:
    """Watches the client: records requests, can hold an export IN_PROGRESS, and writes the
    real export layout when moto says COMPLETED."""

    def __init__(self, ddb: Any, s3: Any, table: str) -> None:
        self.ddb, self.s3, self.table = ddb, s3, table
        self.requests: list[dict[str, Any]] = []
        self.hold = False
        self.written: set[str] = set()
        self.lines: list[dict[str, Any]] = []
        ddb.meta.events.register("provide-client-params.dynamodb.ExportTableToPointInTime",
                                 self._request)
        ddb.meta.events.register("after-call.dynamodb.DescribeExport", self._described)

    def _request(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(copy.deepcopy(params))

    def _described(self, parsed: dict[str, Any], **_: Any) -> None:
        described = parsed["ExportDescription"]
        if self.hold:
            described["ExportStatus"] = "IN_PROGRESS"
            return
        arn = described["ExportArn"]
        if described["ExportStatus"] != "COMPLETED" or arn in self.written:
            return
        self.written.add(arn)
        request = self.requests[-1]
        builder = ExportBuilder(S3Bucket(self.s3, BUCKET), bucket_name=BUCKET, table=self.table,
                                account="123456789012", region=REGION)
        prefix = request.get("S3Prefix")
        if request.get("ExportType") == "INCREMENTAL_EXPORT":
            spec = request["IncrementalExportSpecification"]
            built = builder.incremental(copy.deepcopy(self.lines), start=spec["ExportFromTime"],
                                        end=spec["ExportToTime"], prefix=prefix,
                                        export_arn=arn, view=spec["ExportViewType"])
        else:
            items = [from_client(i) for i in scan_all(self.ddb, self.table)]
            at = request.get("ExportTime") or datetime.now(UTC)  # DynamoDB: "now"
            built = builder.full(items, export_time=at, prefix=prefix,
                                 export_arn=arn)
        builder.write(built)


@pytest.fixture
def world(ddb: Any, s3: Any) -> dict[str, Any]:
    create_table(ddb, "Orders", sk=("sk", "S"))
    put_items(ddb, "Orders", [to_client(copy.deepcopy(i)) for i in every_type_items()])
    s3.create_bucket(Bucket=BUCKET)
    lake = load_file_io(f"s3://{BUCKET}/lake", s3_client=s3)
    return {"ddb": ddb, "s3": s3, "lake": lake, "fake": FakeDynamoDBExports(ddb, s3, "Orders")}


def _config(**kw: Any) -> NativeExportConfig:
    return NativeExportConfig("Orders", poll_seconds=5, convert=ConvertConfig(workers=1), **kw)


def _enable_pitr(ddb: Any) -> None:
    ddb.update_continuous_backups(TableName="Orders", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})


def test_pitr_off_says_how_to_enable_it(world: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="point-in-time recovery") as info:
        export_full(world["ddb"], world["s3"], world["lake"], _config())
    hint = info.value.hint or ""
    assert "aws dynamodb update-continuous-backups --table-name Orders" in hint
    assert "PointInTimeRecoveryEnabled=true" in hint and "--mode scan" in hint
    assert world["fake"].requests == []


def test_local_lake_needs_an_export_bucket(world: dict[str, Any], lake_dir: Any) -> None:
    _enable_pitr(world["ddb"])
    with pytest.raises(UsageError, match="local folder") as info:
        export_full(world["ddb"], world["s3"], load_file_io(str(lake_dir)), _config())
    assert "--export-bucket" in (info.value.hint or "")


def test_full_export_flow_makes_a_snapshot_equal_to_the_table(world: dict[str, Any]) -> None:
    ddb, lake, fake = world["ddb"], world["lake"], world["fake"]
    _enable_pitr(ddb)
    at = datetime.now(UTC).replace(microsecond=0)
    clock = FakeClock(at)
    result = export_full(ddb, world["s3"], lake, _config(export_time=at), clock=clock)
    request = fake.requests[0]
    assert request["S3Bucket"] == BUCKET and request["S3Prefix"] == "lake/_exports"
    assert request["ExportTime"] == at and request["ExportFormat"] == "DYNAMODB_JSON"
    manifest = catalog.load_manifest(lake, "Orders", result.snapshot_id or "")
    assert manifest.consistency.kind == "exact"
    assert manifest.consistency.at == at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert manifest.table_description["TableName"] == "Orders"
    source = {value_key(from_client(i)) for i in scan_all(ddb, "Orders")}
    assert {value_key(i) for i in _items(lake, manifest.snapshot_id)} == source
    assert not lake.exists(layout.state_key("Orders", "native-export.json"))
    export_full(ddb, world["s3"], lake, _config(export_time=at), clock=clock)
    assert fake.requests[1]["ClientToken"] == request["ClientToken"]  # same export on retry


def _items(lake: Any, snapshot_id: str) -> list[dict[str, Any]]:
    import tempfile
    from pathlib import Path

    from lake.fileio import LocalFileIO

    manifest = catalog.load_manifest(lake, "Orders", snapshot_id)
    with tempfile.TemporaryDirectory() as tmp:
        local = LocalFileIO(tmp)
        for part in manifest.parts:
            key = layout.snapshot_part("Orders", snapshot_id, part.path)
            Path(tmp, key).parent.mkdir(parents=True, exist_ok=True)
            local.write(key, lake.read(key))
        local.write(layout.snapshot_manifest("Orders", snapshot_id),
                    lake.read(layout.snapshot_manifest("Orders", snapshot_id)))
        return snapshot_items(local, "Orders", snapshot_id)


def test_an_interrupted_wait_resumes_the_same_export(world: dict[str, Any]) -> None:
    ddb, lake, fake = world["ddb"], world["lake"], world["fake"]
    _enable_pitr(ddb)
    clock = FakeClock(datetime.now(UTC))
    fake.hold = True
    with pytest.raises(RetriesExceeded, match="still IN_PROGRESS") as info:
        export_full(ddb, world["s3"], lake, _config(timeout=timedelta(seconds=12)), clock=clock)
    assert "resumes" in (info.value.hint or "")
    fake.hold = False
    result = export_full(ddb, world["s3"], lake, _config(), clock=clock)
    assert len(fake.requests) == 1 and result.created and result.items == 3


def test_a_failed_export_is_reported_and_forgotten(world: dict[str, Any]) -> None:
    ddb, lake = world["ddb"], world["lake"]
    _enable_pitr(ddb)

    def fail(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ExportDescription"].update(ExportStatus="FAILED", FailureCode="S3NoSuchBucket",
                                           FailureMessage="The specified bucket does not exist")

    ddb.meta.events.register_first("after-call.dynamodb.DescribeExport", fail)
    with pytest.raises(AwsError, match="S3NoSuchBucket") as info:
        export_full(ddb, world["s3"], lake, _config(), clock=FakeClock(datetime.now(UTC)))
    assert "s3:PutObject" in (info.value.hint or "")
    assert not lake.exists(layout.state_key("Orders", "native-export.json"))


def test_incremental_windows_follow_the_chain(world: dict[str, Any]) -> None:
    ddb, lake, fake = world["ddb"], world["lake"], world["fake"]
    _enable_pitr(ddb)
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    clock = FakeClock(t0)
    first = export_incremental(ddb, world["s3"], lake, _config(), clock=clock)
    assert [r.kind for r in first] == ["snapshot"]  # no chain yet: a full baseline
    base = load_chain(lake, "Orders")
    assert base is not None and base.base_snapshot == first[0].snapshot_id
    t0 = base.end  # the export time DynamoDB reported
    item = every_type_items()[2]
    fake.lines = [change_line(t0 + timedelta(minutes=1), key_of(item), new=item)]
    clock.at = t0 + timedelta(hours=30)
    results = export_incremental(ddb, world["s3"], lake, _config(), clock=clock)
    assert [r.kind for r in results] == ["changes", "changes"]
    specs = [r["IncrementalExportSpecification"] for r in fake.requests[1:]]
    assert [(s["ExportFromTime"], s["ExportToTime"]) for s in specs] == [
        (t0, t0 + timedelta(hours=24)), (t0 + timedelta(hours=24), t0 + timedelta(hours=30))]
    chain = load_chain(lake, "Orders")
    assert chain is not None and chain.end == t0 + timedelta(hours=30)
    assert chain.base_snapshot == first[0].snapshot_id
    clock.at += timedelta(minutes=10)
    assert export_incremental(ddb, world["s3"], lake, _config(), clock=clock) == []
    assert len(fake.requests) == 3


def test_incremental_window_is_validated_before_asking(world: dict[str, Any]) -> None:
    ddb, lake, fake = world["ddb"], world["lake"], world["fake"]
    _enable_pitr(ddb)
    now = datetime.now(UTC) + timedelta(hours=2)
    clock = FakeClock(now)
    for start, end, error, words in [
        (now - timedelta(minutes=10), now - timedelta(minutes=5), UsageError, "shorter than 15"),
        (now - timedelta(minutes=30), now - timedelta(minutes=40), UsageError, "not before --to"),
        (now - timedelta(hours=90), now - timedelta(hours=89), ChainBrokenError,
         "older than table Orders's point-in-time recovery window"),
        (now - timedelta(hours=1), now + timedelta(hours=1), UsageError,
         "after the latest restorable time"),
    ]:
        with pytest.raises(error, match=words):
            export_incremental(ddb, world["s3"], lake, _config(start=start, end=end),
                               clock=clock)
    assert fake.requests == []


def test_the_export_folder_comes_from_export_manifest_when_dynamodb_gives_it() -> None:
    from exporter.native_request import export_folder

    arn = "arn:aws:dynamodb:us-east-1:1:table/T/export/01768385930622-efd1a093"
    real = {"ExportArn": arn,
            "ExportManifest": "lake/_exports/AWSDynamoDB/01768385930622-efd1a093/"
                              "manifest-summary.json"}
    assert export_folder(real, "b", "lake/_exports") == \
        "s3://b/lake/_exports/AWSDynamoDB/01768385930622-efd1a093/"
    assert export_folder({"ExportArn": arn}, "b", "") == \
        "s3://b/AWSDynamoDB/01768385930622-efd1a093/"


def test_without_export_time_dynamodb_picks_now(world: dict[str, Any]) -> None:
    ddb, lake, fake = world["ddb"], world["lake"], world["fake"]
    _enable_pitr(ddb)
    fake_time = datetime.now(UTC).replace(microsecond=0)
    result = export_full(ddb, world["s3"], lake, _config(), clock=FakeClock(fake_time))
    assert "ExportTime" not in fake.requests[0]
    assert result.created


def test_a_chain_older_than_the_pitr_window_is_rebaselined(world: dict[str, Any]) -> None:
    from exporter.import_export import import_export
    from lake.progress import RecordingListener

    from .test_convert_full import KEYS

    ddb, lake, fake = world["ddb"], world["lake"], world["fake"]
    _enable_pitr(ddb)
    old = datetime.now(UTC) - timedelta(days=40)
    builder = ExportBuilder(S3Bucket(world["s3"], BUCKET), bucket_name=BUCKET,
                            account="123456789012", region=REGION)
    built = builder.write(builder.full(every_type_items(), export_time=old, prefix="old"))
    import_export(f"s3://{BUCKET}/{built.export_dir}", lake, keys=KEYS, s3_client=world["s3"],
                  config=ConvertConfig(workers=1))
    assert load_chain(lake, "Orders") is not None
    listener = RecordingListener()
    results = export_incremental(ddb, world["s3"], lake, _config(),
                                 clock=FakeClock(datetime.now(UTC)), listener=listener)
    assert [r.kind for r in results] == ["snapshot"]
    assert fake.requests[0]["ExportType"] == "FULL_EXPORT"
    assert any("the chain cannot continue; taking a full export as the new baseline" in m
               for m in listener.messages)
    chain = load_chain(lake, "Orders")
    assert chain is not None and chain.base_snapshot == results[0].snapshot_id


def test_an_export_without_manifests_is_explained(world: dict[str, Any]) -> None:
    from schemas.errors import MissingDataError

    ddb, lake, fake = world["ddb"], world["lake"], world["fake"]
    _enable_pitr(ddb)
    # as plain moto: the export completes, but no manifests are written
    ddb.meta.events.unregister("after-call.dynamodb.DescribeExport", fake._described)
    with pytest.raises(MissingDataError, match=r"COMPLETED but .* is unusable") as info:
        export_full(ddb, world["s3"], lake, _config(), clock=FakeClock(datetime.now(UTC)))
    assert "write no export manifests" in (info.value.hint or "")
    assert not lake.exists(layout.state_key("Orders", "native-export.json"))
