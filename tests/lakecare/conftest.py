"""Fixtures for lake-care tests: a lake on a local folder and one on moto S3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lake.fileio import FileIO, LocalFileIO, load_file_io

BUCKET = "lake-bucket"


@pytest.fixture
def s3_lake(s3: Any) -> FileIO:
    s3.create_bucket(Bucket=BUCKET)
    return load_file_io(f"s3://{BUCKET}/lake", s3_client=s3)


@pytest.fixture
def local_lake(lake_dir: Path) -> FileIO:
    return LocalFileIO(lake_dir)


@pytest.fixture(params=["local", "s3"])
def any_lake(request: pytest.FixtureRequest) -> FileIO:
    name = "local_lake" if request.param == "local" else "s3_lake"
    io: FileIO = request.getfixturevalue(name)
    return io
