"""Nothing is written that was not verified: restores over damaged, replaced and deleted
parts, on local and S3 lakes (moto), and the restore connection holds no credentials.

The property under test: everything a restore writes is an item of the selected snapshot
(or state); a part whose bytes differ from its manifest is refused (exit 4, naming the part)
before any item is written, a deleted part is exit 5."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddblake.sampledata import orders
from lake import layout
from lake.fileio import FileIO, LocalFileIO, load_file_io
from restorer import RestoreConfig, restore
from restorer.select import Query, resolve_source
from schemas.dynamo_json import from_client, value_key
from schemas.errors import CorruptDataError, DdbLakeError, MissingDataError
from schemas.manifest import Manifest
from tests.damage import POSITIONS, flip, offset
from tests.helpers import REGION, run_cli, scan_all
from tests.lakecare.lakehelp import TABLE, make_changes, make_snapshot, snapshot_orders

BUCKET = "verified-lake"
SECRET = "Distinctive/Secret+Key-7f3a9c"
KEY_ID = "AKIADISTINCTIVE7F3A9C"


@pytest.fixture
def session(aws: None) -> boto3.Session:
    return boto3.Session(region_name=REGION)


@pytest.fixture
def lake(lake_dir: Path) -> FileIO:
    return LocalFileIO(lake_dir)


@pytest.fixture
def s3_lake(session: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> FileIO:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    client = session.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return load_file_io(f"s3://{BUCKET}/lake", s3_client=client)


def _key(m: Manifest, index: int) -> str:
    return layout.snapshot_part(m.table, m.snapshot_id, m.parts[index].path)


def _values(items: list[dict[str, Any]]) -> set[Any]:
    return {value_key(i) for i in items}


def _table(session: boto3.Session, target: str) -> set[Any] | None:
    """The target's items (by value), or None when the table does not exist."""
    ddb = session.client("dynamodb")
    if target not in ddb.list_tables()["TableNames"]:
        return None
    return _values([from_client(i) for i in scan_all(ddb, target)])


def _restore(lake: FileIO, session: boto3.Session, target: str, **kw: Any) -> Any:
    return restore(RestoreConfig(lake=lake.uri, target=target, table=TABLE, unit_rows=25,
                                 threads=2, **kw), session=session)


def restored_or_refused(lake: FileIO, session: boto3.Session, target: str,
                        expected: list[dict[str, Any]], **kw: Any) -> DdbLakeError | None:
    """The property: the restore either writes exactly ``expected`` or refuses having
    written nothing (the target was never created). Returns the refusal, if any."""
    try:
        result = _restore(lake, session, target, **kw)
    except DdbLakeError as e:
        assert _table(session, target) is None, f"{target} was written before {e}"
        return e
    assert result.ok and _table(session, target) == _values(expected)
    return None


@pytest.mark.parametrize("where", POSITIONS)
def test_a_flipped_byte_anywhere_is_refused(lake: FileIO, session: boto3.Session,
                                            where: str) -> None:
    m = make_snapshot(lake, items=60, parts=3)
    key = _key(m, 1)
    flip(lake, key, offset(lake.read(key), where), 0x10)
    error = restored_or_refused(lake, session, "restored", snapshot_orders(60, 3))
    assert isinstance(error, CorruptDataError) and error.exit_code == 4
    assert lake.full_uri(key) in error.message and "nothing of it was written" in error.message
    assert "hint:" in str(error) and f"verify {m.snapshot_id}" in str(error)


_RUNS = itertools.count()


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(part=st.integers(0, 2), at=st.integers(0, 10**9), bit=st.integers(0, 7))
def test_any_flipped_bit_of_any_part(lake_dir: Path, session: boto3.Session, part: int,
                                     at: int, bit: int) -> None:
    run = next(_RUNS)  # a fresh lake and target for every example (replays included)
    lake = LocalFileIO(lake_dir / str(run))
    m = make_snapshot(lake, items=30, parts=3)
    key = _key(m, part)
    flip(lake, key, at % m.parts[part].bytes, 1 << bit)
    target = f"restored-{run}"
    error = restored_or_refused(lake, session, target, snapshot_orders(30, 3))
    assert isinstance(error, CorruptDataError) and lake.full_uri(key) in error.message


def test_truncated_and_extended_parts_are_refused(lake: FileIO, session: boto3.Session) -> None:
    m = make_snapshot(lake, items=40, parts=2)
    key = _key(m, 0)
    original = lake.read(key)
    lake.write(key, original[:-100])
    error = restored_or_refused(lake, session, "cut", [])
    assert isinstance(error, CorruptDataError) and "bytes, the manifest records" in error.message
    lake.write(key, original + b"\0" * 10)
    error = restored_or_refused(lake, session, "longer", [])
    assert isinstance(error, CorruptDataError) and "longer than" in error.message
    lake.write(key, original)
    assert restored_or_refused(lake, session, "whole", snapshot_orders(40, 2)) is None


def test_a_deleted_part_is_missing_exit_5(lake: FileIO, session: boto3.Session,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    m = make_snapshot(lake, items=40, parts=2)
    lake.delete(_key(m, 1))
    error = restored_or_refused(lake, session, "restored", [])
    assert isinstance(error, MissingDataError) and error.exit_code == 5
    assert lake.full_uri(_key(m, 1)) in error.message
    code, _, err = run_cli(capsys, "restore", TABLE, "--lake", lake.uri, "--to", "cli-target")
    assert code == 5 and "missing" in err and "hint:" in err
    assert "sandbox" not in err.lower() and "Traceback" not in err


def test_damage_in_another_snapshot_does_not_matter(lake: FileIO,
                                                    session: boto3.Session) -> None:
    """Only the parts the selection reads are checked; an item of another snapshot is
    never written, damaged or not."""
    now = datetime.now(UTC)
    old = make_snapshot(lake, when=now - timedelta(hours=2), items=30, parts=2)
    new = make_snapshot(lake, when=now, items=50, parts=2, start=1000)
    flip(lake, _key(old, 0), 200)
    assert restored_or_refused(lake, session, "latest",
                               snapshot_orders(50, 2, 1000)) is None
    error = restored_or_refused(lake, session, "old", [], snapshot=old.snapshot_id)
    assert isinstance(error, CorruptDataError) and old.snapshot_id in error.message
    assert new.snapshot_id not in error.message


def test_change_batch_parts_are_verified_for_as_of(lake: FileIO,
                                                   session: boto3.Session) -> None:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    make_snapshot(lake, when=when, items=20, parts=1)
    batch = make_changes(lake, when + timedelta(hours=1))
    later = make_changes(lake, when + timedelta(hours=2))
    flip(lake, layout.table_key(TABLE, later.parts[0].path), -30)
    # The damaged batch lies after the asked time: not read, and the state is exact.
    at = (when + timedelta(hours=1, minutes=30)).isoformat()
    before = snapshot_orders(20, 1)
    gone = next(orders(1))
    expected = [i for i in before if value_key(i) != value_key(gone)] + list(
        orders(3, start=10_000))
    assert restored_or_refused(lake, session, "as-of-ok", expected, as_of=at) is None
    at = (when + timedelta(hours=2, minutes=30)).isoformat()
    error = restored_or_refused(lake, session, "as-of-bad", [], as_of=at)
    assert isinstance(error, CorruptDataError)
    assert f"change batch {later.batch_id}" in error.message
    assert batch.batch_id not in error.message


def test_s3_lake_restores_through_verified_copies_without_credentials(
        s3_lake: FileIO, session: boto3.Session) -> None:
    make_snapshot(s3_lake, items=45, parts=3)
    config = RestoreConfig(lake=s3_lake.uri, target="from-s3", table=TABLE, threads=2)
    source = resolve_source(s3_lake, config)
    try:
        assert source.selection.setup == [] and source.lake is not None
        assert all(Path(p).is_relative_to(source.lake.root) for p in source.selection.paths)
        query = Query(source, config)
        con = query.con
        with pytest.raises(duckdb.Error, match="httpfs"):  # httpfs is not even loaded
            con.sql("SELECT current_setting('s3_region')").fetchall()
        values = str(con.sql("SELECT name, value FROM duckdb_settings()").fetchall())
        assert SECRET not in values and KEY_ID not in values
        assert query.count()[0] == 45
        query.close()
    finally:
        source.close()
    assert not source.lake.root.exists()
    assert restored_or_refused(s3_lake, session, "from-s3", snapshot_orders(45, 3)) is None


def test_s3_part_replaced_by_plain_put_is_refused(s3_lake: FileIO, session: boto3.Session,
                                                  ) -> None:
    m = make_snapshot(s3_lake, items=40, parts=2)
    key = _key(m, 1)
    data = bytearray(s3_lake.read(key))
    data[offset(bytes(data), "item-data-page")] ^= 0x04
    client = s3_lake.client  # type: ignore[attr-defined]
    client.put_object(Bucket=BUCKET, Key=f"lake/{key}", Body=bytes(data))  # CRC32, no SHA-256
    error = restored_or_refused(s3_lake, session, "from-s3", [])
    assert isinstance(error, CorruptDataError) and s3_lake.full_uri(key) in error.message
    client.delete_object(Bucket=BUCKET, Key=f"lake/{key}")
    error = restored_or_refused(s3_lake, session, "from-s3", [])
    assert isinstance(error, MissingDataError) and s3_lake.full_uri(key) in error.message


def test_temporary_copies_are_removed_after_a_refusal(lake: FileIO, session: boto3.Session,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    m = make_snapshot(lake, items=40, parts=4)
    flip(lake, _key(m, 3), 100)
    assert isinstance(restored_or_refused(lake, session, "t", []), CorruptDataError)
    assert list((tmp_path / "tmp").iterdir()) == []
