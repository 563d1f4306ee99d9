"""Worker processes: a real parallel export against the moto server, and errors crossing
the process boundary with their hints."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import boto3

from exporter import ExportConfig, export_table
from lake.fileio import LocalFileIO
from lake.progress import RecordingListener
from schemas.dynamo_json import from_client, value_key
from schemas.errors import CredentialsError, PortableError
from tests.exporter.support import read_snapshot
from tests.helpers import REGION, create_table, put_items, scan_all


def test_parallel_export_on_worker_processes(server_env: dict[str, str], lake_dir: Path) -> None:
    ddb: Any = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, "parallel")
    put_items(ddb, "parallel", [{"pk": {"S": f"k{i}"}, "n": {"N": f"{i}.5"}} for i in range(120)])
    listener = RecordingListener()
    result = export_table(ExportConfig(table="parallel", lake=str(lake_dir), workers=2,
                                       segments=4, page_limit=10, target_part_mb=0.0005),
                          listener=listener)
    assert result.workers == 2 and listener.total("export") == 120
    got = read_snapshot(LocalFileIO(lake_dir), result.manifest)
    assert {value_key(i) for i in got} == {value_key(from_client(i))
                                          for i in scan_all(ddb, "parallel")}
    assert len({p.path.split("-")[1] for p in result.manifest.parts}) == 4


def test_worker_errors_keep_class_and_hint() -> None:
    failure = pickle.loads(pickle.dumps(PortableError(CredentialsError, "expired", "refresh")))
    error = failure.rebuild()
    assert isinstance(error, CredentialsError)
    assert error.message == "expired" and error.hint == "refresh" and error.exit_code == 8
