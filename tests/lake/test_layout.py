"""The one module that builds keys refuses to build one outside the lake, from any name;
FileIO refuses such a key even if one were built elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lake import layout
from lake.fileio import FileIO, LocalFileIO, S3Location, load_file_io
from schemas.errors import UnsafeNameError, UsageError
from tests.helpers import run_cli

SID = "20261122T130501Z-0a2b3c4d"
BAD_TABLES = ["..", "../x", "a/b", "ab", "", "x" * 256, "or ders", "t\x00x", "s3://b"]
BAD_IDS = ["..", "../x", "latest", f"{SID}/..", "", f"../../{SID}"]


@pytest.mark.parametrize("table", BAD_TABLES)
def test_no_key_is_built_from_a_bad_table_name(table: str) -> None:
    builders: list[Callable[[], str]] = [
                lambda: layout.table_prefix(table), lambda: layout.snapshots_prefix(table),
                lambda: layout.snapshot_manifest(table, SID),
                lambda: layout.change_manifest(table, SID),
                lambda: layout.state_key(table, "x.json"),
                lambda: layout.restore_journal(table, SID),
                lambda: layout.change_part(table, "changes/2026/11/22/x.parquet")]
    for build in builders:
        with pytest.raises(UnsafeNameError, match="not a DynamoDB table name"):
            build()


@pytest.mark.parametrize("identifier", BAD_IDS)
def test_no_key_is_built_from_a_bad_id(identifier: str) -> None:
    builders: list[Callable[[], str]] = [lambda: layout.snapshot_dir("orders", identifier),
                lambda: layout.snapshot_manifest("orders", identifier),
                lambda: layout.change_manifest("orders", identifier),
                lambda: layout.change_part_name(identifier, 0),
                lambda: layout.restore_journal("orders", identifier),
                lambda: layout.restore_dead_letter("orders", identifier, 1)]
    for build in builders:
        with pytest.raises(UnsafeNameError, match="not a ddblake id"):
            build()


@pytest.mark.parametrize("relative", ["../../x.parquet", "data/../../x", "/abs/x.parquet",
                                      "s3://b/x", "file:x", "data\\x", "data//x", "manifest.json"])
def test_no_part_key_is_built_outside_the_snapshot_data_folder(relative: str) -> None:
    with pytest.raises(UnsafeNameError):
        layout.snapshot_part("orders", SID, relative)


@pytest.mark.parametrize("relative", ["../x.parquet", "changes/../../x", "data/x.parquet",
                                      "changes/_manifests/other.json", "changes/_manifests/x"])
def test_change_part_keys_stay_in_changes_and_out_of_its_manifests(relative: str) -> None:
    with pytest.raises(UnsafeNameError):
        layout.change_part("orders", relative)


@pytest.mark.parametrize("name", ["../x", "/x", "a//b", "a/../../b", "x\\y", ".."])
def test_state_names_are_checked_too(name: str) -> None:
    with pytest.raises(UnsafeNameError):
        layout.state_key("orders", name)


def test_names_dynamodb_allows_build_keys_that_differ_only_where_the_names_do() -> None:
    upper = layout.snapshot_part("My.Table", SID, "data/part-00000-00000.parquet")
    lower = layout.snapshot_part("my.table", SID, "data/part-00000-00000.parquet")
    assert upper == f"My.Table/snapshots/{SID}/data/part-00000-00000.parquet"
    assert upper != lower and layout.state_key("a-b_c.d", "") == "a-b_c.d/state/"


def test_user_given_table_names_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="not a DynamoDB table name") as caught:
        layout.check_table_name("../orders")
    assert caught.value.exit_code == 2


def _lake_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("key", ["../outside.txt", "a/../../outside.txt", "/outside.txt",
                                 "a//b", "./x", "x\x00y", "a\\..\\..\\outside.txt"])
def test_local_file_io_never_leaves_its_root(tmp_path: Path, key: str) -> None:
    root = tmp_path / "lake"
    root.mkdir()
    sentinel = tmp_path / "outside.txt"
    sentinel.write_bytes(b"keep me")
    io = LocalFileIO(root)
    for action in (lambda: io.read(key), lambda: io.write(key, b"x"),
                   lambda: io.create(key, b"x"), lambda: io.delete(key),
                   lambda: io.stat(key), lambda: io.put_file(key, sentinel),
                   lambda: io.get_file(key, tmp_path / "copy"), lambda: io.full_uri(key)):
        with pytest.raises(UnsafeNameError, match="would leave the lake"):
            action()
    assert sentinel.read_bytes() == b"keep me" and _lake_files(root) == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake", "outside.txt"]


def test_s3_file_io_never_leaves_its_prefix(s3: Any) -> None:
    s3.create_bucket(Bucket="lake-bucket")
    s3.put_object(Bucket="lake-bucket", Key="outside.txt", Body=b"keep me")
    io: FileIO = load_file_io("s3://lake-bucket/lake", s3_client=s3)
    actions: list[Callable[[str], object]] = [
        lambda k: io.read(k), lambda k: io.write(k, b"x"), lambda k: io.delete(k),
        lambda k: io.stat(k), lambda k: io.create(k, b"x")]
    for key in ("../outside.txt", "t/../../outside.txt", "/outside.txt", "a//b"):
        for action in actions:
            with pytest.raises(UnsafeNameError):
                action(key)
    listed = s3.list_objects_v2(Bucket="lake-bucket")["Contents"]
    assert [o["Key"] for o in listed] == ["outside.txt"]
    assert s3.get_object(Bucket="lake-bucket", Key="outside.txt")["Body"].read() == b"keep me"


@pytest.mark.parametrize("bucket", ["Bad_Bucket", "ab", "a" * 64, "-lake", "lake-", "la..ke",
                                    "192.168.1.1", "xn--lake", "lake-s3alias", "lake_bucket",
                                    "my bucket"])
def test_invalid_bucket_names_are_usage_errors(bucket: str) -> None:
    with pytest.raises(UsageError, match="not a valid S3 bucket name") as caught:
        S3Location.parse(f"s3://{bucket}/lake")
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("uri", ["s3://lake-bucket/a/../b", "s3://lake-bucket/a//b",
                                 "s3://lake-bucket/./a"])
def test_lake_prefixes_with_dot_folders_are_usage_errors(uri: str) -> None:
    with pytest.raises(UsageError, match="prefix"):
        S3Location.parse(uri)


def test_valid_bucket_names_parse() -> None:
    assert S3Location.parse("s3://my.lake-01/a/b/") == S3Location("my.lake-01", "a/b")


def test_an_invalid_bucket_name_exits_2_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["snapshots"], ["verify", "--all"], ["gc"], ["query", "SELECT 1"]):
        code, _, err = run_cli(capsys, *command, "--lake", "s3://Bad_Bucket/lake")
        assert code == 2, command
        assert "'Bad_Bucket' is not a valid S3 bucket name" in err
        assert "hint: bucket names are 3-63 characters" in err and "Traceback" not in err
