"""Lakes for query tests: local folders and S3 buckets in moto's server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from lake.fileio import FileIO, load_file_io
from schemas.manifest import Manifest
from tests.helpers import REGION
from tests.queries.lakegen import T0, History, standard_history, write_changes, write_snapshot

TABLE = "orders"
END = T0 + timedelta(seconds=100)  # the change log is complete from T0 to END


@dataclass
class LakeCase:
    io: FileIO
    history: History
    first: Manifest
    second: Manifest


def build_lake(io: FileIO, *, with_changes: bool = True) -> LakeCase:
    """Snapshot 1 exact at T0+1s; change log in two batches; snapshot 2 fuzzy over
    [T0+35s, T0+45s] holding the state at its start (the log makes it exact)."""
    h = standard_history()
    first = write_snapshot(io, TABLE, list(h.state_at(T0).values()), T0 + timedelta(seconds=1))
    start, end = T0 + timedelta(seconds=35), T0 + timedelta(seconds=45)
    second = write_snapshot(io, TABLE, list(h.state_at(start).values()), end, fuzzy_start=start)
    if with_changes:
        events = sorted(h.events, key=lambda e: (e.at, e.seq))
        middle = events[3].at
        write_changes(io, TABLE, events[:4], covered=(T0, middle))
        write_changes(io, TABLE, events[4:], covered=(middle, END))
    return LakeCase(io, h, first, second)


@pytest.fixture
def local_case(tmp_path: Path) -> LakeCase:
    return build_lake(load_file_io(str(tmp_path / "lake")))


def s3_io(server_env: dict[str, str], bucket: str) -> FileIO:
    client = boto3.client("s3", region_name=REGION, endpoint_url=server_env["AWS_ENDPOINT_URL"])
    client.create_bucket(Bucket=bucket)
    return load_file_io(f"s3://{bucket}/lake", s3_client=client)


_COUNTER = {"n": 0}


@pytest.fixture
def s3_case(server_env: dict[str, str]) -> LakeCase:
    _COUNTER["n"] += 1
    return build_lake(s3_io(server_env, f"q-bucket-{_COUNTER['n']}"))


@pytest.fixture(params=["local", "s3"])
def any_case(request: pytest.FixtureRequest) -> LakeCase:
    name = "local_case" if request.param == "local" else "s3_case"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


Builder = Callable[..., Any]
