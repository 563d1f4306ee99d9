"""What a user sees: `ddblake import-export` and `ddblake export --mode native|incremental`."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.native.conftest import T0
from tests.native.export_builder import ExportBuilder, b64md5


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli(capsys, *args)


def test_import_export_prints_a_summary(builder: ExportBuilder, bucket_dir: Path,
                                        lake_dir: Path, items: list[dict[str, Any]],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    built = builder.write(builder.full(copy.deepcopy(items), export_time=T0, prefix="p"))
    code, out, _ = run(["import-export", str(bucket_dir / built.export_dir), "--lake",
                        str(lake_dir), "--partition-key", "pk:S", "--sort-key", "sk:S",
                        "--workers", "1", "--format", "json", "-q", "--target-file-mb", "1"],
                       capsys)
    assert code == 0
    summary = json.loads(out)
    assert summary["kind"] == "snapshot" and summary["items"] == 3 and summary["created"]
    assert summary["snapshot_id"].startswith("20260114T101850Z-")


def test_import_export_damage_exits_non_zero_with_a_hint(builder: ExportBuilder,
                                                         bucket_dir: Path, lake_dir: Path,
                                                         items: list[dict[str, Any]],
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    built = builder.full(items, export_time=T0)
    built.files[0]["md5Checksum"] = b64md5(b"x")
    builder.write(built)
    code, out, err = run(["import-export", str(bucket_dir / built.export_dir), "--lake",
                          str(lake_dir), "--partition-key", "pk:S", "--sort-key", "sk:S",
                          "--workers", "1", "-q"], capsys)
    assert code == 4 and out == ""
    assert "fails its MD5 check" in err and built.files[0]["dataFileS3Key"] in err
    assert "hint: the object is damaged or was replaced; request a new export" in err


def test_bad_key_flag_is_a_usage_error(bucket_dir: Path, lake_dir: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["import-export", str(bucket_dir), "--lake", str(lake_dir),
                        "--partition-key", "pk"], capsys)
    assert code == 2 and "is not NAME:TYPE" in err


def test_export_native_on_a_local_lake_asks_for_a_bucket(lake_dir: Path, ddb: Any,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    from tests.helpers import create_table

    create_table(ddb, "Orders")
    ddb.update_continuous_backups(TableName="Orders", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    code, _, err = run(["export", "Orders", "--lake", str(lake_dir), "--mode", "native", "-q"],
                       capsys)
    assert code == 2 and "--export-bucket s3://BUCKET/PREFIX" in err


def test_scan_flags_are_refused_in_native_mode(lake_dir: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["export", "Orders", "--lake", str(lake_dir), "--mode", "incremental",
                        "--max-rcu", "100", "--resume"], capsys)
    assert code == 2 and "--max-rcu, --resume only apply to --mode scan" in err
