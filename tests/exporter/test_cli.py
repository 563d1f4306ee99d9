"""The export, snapshots, show and gc commands, run in-process against in-process moto."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

import lake.aws
from tests.exporter.support import FaultInjector
from tests.helpers import REGION, create_table, put_items, run_cli


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli(capsys, *args)


@pytest.fixture
def movies(ddb: Any) -> str:
    create_table(ddb, "movies", sk=("year", "N"))
    put_items(ddb, "movies", [{"pk": {"S": f"film {i}"}, "year": {"N": str(1950 + i)},
                               "rating": {"N": f"{i % 10}.5"}} for i in range(30)])
    return "movies"


def test_export_list_show(movies: str, lake_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["export", movies, "--lake", str(lake_dir), "--workers", "1",
                          "--segments", "2", "--format", "json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["items"] == 30 and summary["table"] == "movies" and summary["segments"] == 2
    assert "exporting movies" in err

    code, out, _ = run(["snapshots", "--lake", str(lake_dir), "--format", "json"], capsys)
    [row] = json.loads(out)
    assert row["snapshot_id"] == summary["snapshot_id"] and row["method"] == "scan"
    assert row["consistency"].startswith("fuzzy ")

    code, out, _ = run(["show", "latest", "--lake", str(lake_dir)], capsys)
    assert code == 0
    assert f"snapshot_id: {summary['snapshot_id']}" in out
    assert "rating" in out and "decimal128" in out and "data/part-00000-00000.parquet" in out

    code, out, err = run(["gc", "--lake", str(lake_dir), "--dry-run"], capsys)
    assert code == 0 and "would remove 0 objects" in err


def _expect_error(args: list[str], capsys: pytest.CaptureFixture[str], code: int,
                  *needles: str) -> None:
    got, out, err = run(args, capsys)
    assert got == code, err
    assert out == ""
    assert "error: " in err and "hint: " in err
    for needle in needles:
        assert needle in err


def test_table_not_found(ddb: Any, lake_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _expect_error(["export", "ghost", "--lake", str(lake_dir), "--workers", "1"], capsys, 5,
                  "table ghost was not found", "AWS_REGION")


def test_access_denied(movies: str, lake_dir: Path, capsys: pytest.CaptureFixture[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    def denied_session(profile: Any = None, region: Any = None) -> boto3.Session:
        session = boto3.Session(region_name=REGION)
        session.events.register_first("before-send.dynamodb", FaultInjector(forever="denied"))
        return session

    monkeypatch.setattr(lake.aws, "make_session", denied_session)
    _expect_error(["export", movies, "--lake", str(lake_dir), "--workers", "1"], capsys, 8,
                  "access denied", "IAM")


def test_bucket_missing(movies: str, s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _expect_error(["export", movies, "--lake", "s3://no-such-bucket/x", "--workers", "1"],
                  capsys, 5, "does not exist", "aws s3 mb")


def test_lake_not_writable(movies: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _expect_error(["export", movies, "--lake", str(blocker / "lake"), "--workers", "1"],
                  capsys, 7, "cannot create", "writable")


def test_no_credentials(lake_dir: Path, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    _expect_error(["export", "movies", "--lake", str(lake_dir), "--workers", "1"], capsys, 8,
                  "no AWS credentials", "aws configure")


def test_bad_flags(lake_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _expect_error(["export", "movies", "--lake", str(lake_dir), "--segments", "lots"], capsys, 2,
                  "--segments")
    _expect_error(["gc", "--lake", str(lake_dir), "--older-than", "soon"], capsys, 2,
                  "not a duration")
    _expect_error(["export", "movies", "--lake", str(lake_dir), "--resume", "--workers", "1"],
                  capsys, 5, "no interrupted export")


def test_help_texts(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("export", "snapshots", "show", "gc"):
        code, out, _ = run([command, "--help"], capsys)
        assert code == 0 and "--lake" in out
    code, out, _ = run(["export", "--help"], capsys)
    for flag in ("--mode", "--segments", "--workers", "--consistent-read", "--max-rcu",
                 "--target-file-mb", "--resume", "--format", "--quiet"):
        assert flag in out


def test_cli_part_size_default_is_the_librarys() -> None:
    from ddblake.cli import cli, load_all_commands
    from exporter.config import DEFAULT_TARGET_MB

    load_all_commands()
    (option,) = [p for p in cli.commands["export"].params if p.name == "target_file_mb"]
    assert option.default == DEFAULT_TARGET_MB
