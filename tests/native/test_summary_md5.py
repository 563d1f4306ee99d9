"""A `manifest-summary.md5` mismatch (the public export's summary was anonymised after AWS
wrote its .md5) is refused by default, and `--accept-summary-mismatch` still checks every
data file: MD5, size and item count; the override is recorded in the lake."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from exporter.export_reader import b64_md5
from lake import catalog
from lake.fileio import LocalFileIO
from tests.helpers import run_cli
from tests.native.conftest import T0
from tests.native.export_builder import BuiltExport, ExportBuilder, S3Bucket, gzip_lines
from tests.native.real_shape import TABLE, real_shaped

FLAGS = ["--partition-key", "pk:S", "--sort-key", "sk:S", "--workers", "1", "-q"]
ACCEPT = "--accept-summary-mismatch"


def anonymise(bucket: Path, built: BuiltExport) -> tuple[str, str]:
    """Edit the summary after its .md5 was written; (recorded, computed) MD5s."""
    path = bucket / built.export_dir / "manifest-summary.json"
    edited = path.read_bytes().replace(b'"s3Bucket":"my-backups"', b'"s3Bucket":"test-1x1x"')
    assert edited != path.read_bytes()
    path.write_bytes(edited)
    recorded = (bucket / built.export_dir / "manifest-summary.md5").read_text()
    return recorded, b64_md5(edited)


def run(capsys: pytest.CaptureFixture[str], folder: Path | str, lake: Path,
        *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "import-export", str(folder), "--lake", str(lake), *FLAGS, *extra)


def committed(lake: Path) -> list[Path]:
    """Snapshot manifests and change batch manifests: what the lake has committed (a failed
    conversion may leave unreferenced parts behind for `ddblake gc`, never a commit; nor the
    table's format 2 schema file, which the first part built creates and which commits no
    item: decision 005)."""
    return sorted([*lake.glob("*/snapshots/*/manifest.json"),
                   *lake.glob("*/changes/_manifests/*.json")])


def test_a_summary_mismatch_is_refused_with_the_override_named(
        builder: ExportBuilder, bucket_dir: Path, lake_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    shape = real_shaped(builder)
    recorded, computed = anonymise(bucket_dir, shape.full)
    code, out, err = run(capsys, bucket_dir / shape.full.export_dir, lake_dir)
    assert code == 4 and out == ""
    assert (f"does not match manifest-summary.md5 (recorded {recorded}, computed {computed})"
            in err)
    assert f"re-run with {ACCEPT}: every data file is still checked" in err
    assert committed(lake_dir) == []


def test_the_override_converts_and_is_recorded(builder: ExportBuilder, bucket_dir: Path,
                                               lake_dir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    shape = real_shaped(builder)
    expected = []
    for built in (shape.full, shape.inc1):
        recorded, computed = anonymise(bucket_dir, built)
        expected.append({"status": "mismatch accepted", "flag": ACCEPT, "recorded": recorded,
                         "computed": computed})
        code, out, err = run(capsys, bucket_dir / built.export_dir, lake_dir, ACCEPT,
                             "--format", "json")
        assert code == 0, err
        assert f"warning: {bucket_dir}/{built.export_dir} does not match manifest-summary.md5" \
            in err
        assert any(f"accepted by {ACCEPT}" in w for w in json.loads(out)["warnings"])
    lake = LocalFileIO(lake_dir)
    manifest = catalog.find_snapshot(lake, "latest", TABLE)
    assert manifest.extra["native_export"]["summary_md5"] == expected[0]
    assert manifest.totals.items == 3
    batches = catalog.list_change_batches(lake, TABLE)
    assert batches and all(b.source["summary_md5"] == expected[1] for b in batches)
    assert sum(b.rows for b in batches) == 6
    assert len(committed(lake_dir)) == 1 + len(batches)  # what `committed` finds is the commits


def _bad_md5(built: BuiltExport, i: int = 0) -> str:
    built.files[i]["md5Checksum"] = b64_md5(b"not the file")
    return "fails its MD5 check"


def _bad_count(built: BuiltExport, i: int = 0) -> str:
    built.files[i]["itemCount"] -= 1
    built.summary["itemCount"] -= 1  # the manifests agree with each other, not with the file
    return "holds 3 items but manifest-files.json says 2"


def _dropped_line(built: BuiltExport, i: int = 0) -> str:
    key = built.files[i]["dataFileS3Key"]
    lines = [orjson.loads(x) for x in gzip_decompress(built.data[key]).splitlines()]
    built.data[key] = gzip_lines(lines[1:])  # a line lost, the MD5 made to match
    built.files[i]["md5Checksum"] = b64_md5(built.data[key])
    return "holds 2 items but manifest-files.json says 3"


def gzip_decompress(data: bytes) -> bytes:
    import gzip

    return gzip.decompress(data)


@pytest.mark.parametrize("damage", [_bad_md5, _bad_count, _dropped_line],
                         ids=["md5", "item-count", "dropped-line"])
def test_the_override_still_checks_every_data_file(
        damage: Any, builder: ExportBuilder, bucket_dir: Path, lake_dir: Path,
        items: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    built = builder.full(copy.deepcopy(items), export_time=T0)
    words = damage(built)
    builder.write(built)
    anonymise(bucket_dir, built)
    code, out, err = run(capsys, bucket_dir / built.export_dir, lake_dir, ACCEPT)
    assert code == 4 and out == "", err
    assert words in err and built.files[0]["dataFileS3Key"] in err
    assert committed(lake_dir) == []


def test_the_override_does_not_cover_the_file_list(builder: ExportBuilder, bucket_dir: Path,
                                                   lake_dir: Path, items: list[dict[str, Any]],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    built = builder.write(builder.full(copy.deepcopy(items), export_time=T0))
    anonymise(bucket_dir, built)
    listing = bucket_dir / built.export_dir / "manifest-files.json"
    listing.write_bytes(listing.read_bytes().replace(b'"itemCount":0', b'"itemCount":1', 1))
    code, _, err = run(capsys, bucket_dir / built.export_dir, lake_dir, ACCEPT)
    assert code == 4 and "does not match manifest-files.md5" in err
    assert committed(lake_dir) == []


def test_a_short_download_is_refused(s3: Any, lake_dir: Path, items: list[dict[str, Any]],
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The object's stored size is checked against the bytes read (a fault moto cannot
    produce: the download is cut short by a patched transfer)."""
    from lake.fileio import S3FileIO

    s3.create_bucket(Bucket="exports")
    builder = ExportBuilder(S3Bucket(s3, "exports"), bucket_name="exports")
    built = builder.write(builder.full(copy.deepcopy(items), export_time=T0, files=1, empty=0))
    original = S3FileIO.get_file

    def short(self: S3FileIO, key: str, local_path: Path) -> None:
        original(self, key, local_path)
        local_path.write_bytes(local_path.read_bytes()[:-1])

    monkeypatch.setattr(S3FileIO, "get_file", short)
    code, _, err = run(capsys, f"s3://exports/{built.export_dir}", lake_dir)
    size = len(next(iter(built.data.values())))
    assert code == 4 and f"read {size - 1} bytes, the object holds {size}" in err


@pytest.mark.parametrize(("damage", "words"), [
    (_bad_count, "holds 3 records (at least) but manifest-files.json says 2"),
    (_dropped_line, "holds 2 records but manifest-files.json says 3"),
    (_bad_md5, "fails its MD5 check")], ids=["item-count", "dropped-line", "md5"])
def test_a_damaged_incremental_file_commits_nothing(
        damage: Any, words: str, builder: ExportBuilder, bucket_dir: Path, lake_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from tests.native.real_shape import history

    lines = history().window1
    built = builder.incremental(lines, start=T0, end=T0 + timedelta(minutes=15), files=2,
                                empty=0)
    damage(built, 1)  # the other file is converted (and its part written) first
    builder.write(built)
    code, out, err = run(capsys, bucket_dir / built.export_dir, lake_dir)
    assert code == 4 and out == "", err
    assert words in err and built.files[1]["dataFileS3Key"] in err
    assert committed(lake_dir) == []
    assert [p for p in lake_dir.rglob("*") if p.is_file()] == []  # nor any part
