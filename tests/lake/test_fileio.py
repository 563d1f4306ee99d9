"""The same FileIO behaviour on a local folder and on S3 (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lake.fileio import FileIO, LocalFileIO, S3FileIO, S3Location, load_file_io
from schemas.errors import AlreadyExistsError, NotFoundError, UsageError
from tests.helpers import REGION


@pytest.fixture(params=["local", "s3"])
def io(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FileIO]:
    if request.param == "local":
        yield LocalFileIO(tmp_path / "lake")
        return
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="lake-bucket")
        yield S3FileIO(S3Location("lake-bucket", "some/prefix"), client,
                       multipart_threshold=5 * 1024 * 1024)


def test_write_read_stat_list_delete(io: FileIO) -> None:
    io.write("t/state/a.json", b"one")
    io.write("t/state/a.json", b"two")
    io.write("t/snapshots/x/data/p.parquet", b"12345")
    assert io.read("t/state/a.json") == b"two"
    info = io.stat("t/snapshots/x/data/p.parquet")
    assert info is not None and info.size == 5
    assert io.stat("t/missing") is None
    assert [o.key for o in io.iter_objects("t/")] == ["t/snapshots/x/data/p.parquet",
                                                      "t/state/a.json"]
    assert io.list_dirs("t/") == ["snapshots", "state"]
    io.delete("t/state/a.json")
    assert not io.exists("t/state/a.json")
    with pytest.raises(NotFoundError):
        io.read("t/state/a.json")


def test_create_refuses_to_overwrite(io: FileIO) -> None:
    io.create("t/snapshots/x/manifest.json", b"first")
    with pytest.raises(AlreadyExistsError):
        io.create("t/snapshots/x/manifest.json", b"second")
    assert io.read("t/snapshots/x/manifest.json") == b"first"


def test_put_file_uploads_large_files_intact(io: FileIO, tmp_path: Path) -> None:
    import hashlib
    import os

    local = tmp_path / "big.bin"
    data = os.urandom(12 * 1024 * 1024 + 17)  # above the multipart threshold on S3
    local.write_bytes(data)
    io.put_file("t/snapshots/x/data/big.parquet", local)
    back = tmp_path / "back.bin"
    io.get_file("t/snapshots/x/data/big.parquet", back)
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_s3_objects_carry_sha256_checksums(tmp_path: Path) -> None:
    from moto import mock_aws

    with mock_aws():
        client: Any = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket="sums")
        io = S3FileIO(S3Location("sums", ""), client)
        io.write("k", b"data")
        head = client.head_object(Bucket="sums", Key="k", ChecksumMode="ENABLED")
        assert "ChecksumSHA256" in head


def test_uris_pick_the_backend(tmp_path: Path) -> None:
    assert isinstance(load_file_io(str(tmp_path)), LocalFileIO)
    s3 = load_file_io("s3://bucket/a/b", s3_client=object())
    assert isinstance(s3, S3FileIO) and s3.uri == "s3://bucket/a/b"
    assert s3.full_uri("t/x") == "s3://bucket/a/b/t/x"
    with pytest.raises(UsageError, match="unsupported"):
        load_file_io("gs://bucket")
    with pytest.raises(UsageError, match="no bucket"):
        load_file_io("s3://", s3_client=object())


def test_missing_bucket_says_how_to_fix(tmp_path: Path) -> None:
    from moto import mock_aws

    with mock_aws():
        io = S3FileIO(S3Location("nope", ""), boto3.client("s3", region_name=REGION))
        with pytest.raises(NotFoundError) as caught:
            io.write("k", b"x")
        assert caught.value.hint and "mb" in caught.value.hint
