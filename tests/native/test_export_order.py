"""A full export and its incremental exports, shaped like the real AWS-made one, imported in
every order: one lake, one coverage; the ~70 s gap after the full export is shown, not
refused; a perfect chain makes `--as-of` exact (issue 13, item 4)."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.dynamo_json import value_key
from tests.helpers import run_cli
from tests.native.conftest import T0
from tests.native.export_builder import ExportBuilder
from tests.native.real_shape import (
    TABLE,
    W1_END,
    W1_LAST,
    W1_START,
    W2_END,
    W2_LAST,
    RealShape,
    real_shaped,
)

FLAGS = ["--partition-key", "pk:S", "--sort-key", "sk:S", "--workers", "1", "-q"]
VOLATILE = {"created_at", "manifest_sha256"}  # when a file was written, and its self-hash


def import_cli(capsys: pytest.CaptureFixture[str], folder: Path, lake: Path,
               *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "import-export", str(folder), "--lake", str(lake), *FLAGS, *extra)


def lake_digest(lake: Path) -> str:
    """Every file of the lake: its path and bytes (manifests without when they were made)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in lake.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".json":
            doc = {k: v for k, v in orjson.loads(data).items() if k not in VOLATILE}
            data = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        digest.update(path.relative_to(lake).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def coverage_json(capsys: pytest.CaptureFixture[str], lake: Path) -> list[dict[str, Any]]:
    code, out, err = run_cli(capsys, "coverage", "--lake", str(lake), "--format", "json")
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def as_of(capsys: pytest.CaptureFixture[str], lake: Path, when: str) -> tuple[Counter[Any], str]:
    """The table's items at ``when`` (canonical values) and the notes printed."""
    code, out, err = run_cli(capsys, "query", "--lake", str(lake), "--as-of", when,
                             "--format", "json", "SELECT _item FROM items")
    assert code == 0, err
    return canonical([orjson.loads(row["_item"]) for row in json.loads(out)]), err


def canonical(items: list[dict[str, Any]]) -> Counter[Any]:
    """Items as a multiset of canonical values (order- and set-order-free)."""
    return Counter(value_key(i) for i in items)


@pytest.fixture
def shape(builder: ExportBuilder) -> RealShape:
    return real_shaped(builder)


def test_every_import_order_gives_the_same_lake_and_coverage(
        shape: RealShape, bucket_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    exports = shape.exports()
    seen: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for order in itertools.permutations(exports):
        lake = tmp_path / "-".join(order)
        for name in order:
            code, _, err = import_cli(capsys, bucket_dir / exports[name].export_dir, lake)
            assert code == 0, f"{order}: {err}"
        seen["-".join(order)] = (lake_digest(lake), coverage_json(capsys, lake))
    assert len(seen) == 6
    digests = {digest for digest, _ in seen.values()}
    assert len(digests) == 1, seen
    coverages = [cov for _, cov in seen.values()]
    assert all(cov == coverages[0] for cov in coverages)
    gaps = [r for r in coverages[0] if r["what"] == "GAP"]
    assert [(g["from"], g["to"]) for g in gaps] == [
        ("2026-01-14T10:18:50.622+00:00", "2026-01-14T10:19:59.999+00:00")]


def test_the_gap_after_the_full_export_is_imported_and_shown(
        shape: RealShape, bucket_dir: Path, lake_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = import_cli(capsys, bucket_dir / shape.full.export_dir, lake_dir)
    assert code == 0, err
    code, out, err = import_cli(capsys, bucket_dir / shape.inc1.export_dir, lake_dir,
                                "--format", "json")
    assert code == 0, err
    assert json.loads(out)["kind"] == "changes"
    assert ("warning: the change log of test has a gap from 2026-01-14T10:18:50.622+00:00 to "
            "2026-01-14T10:19:59.999+00:00 (no change log from snapshot 20260114T101850Z-") in err
    code, out, err = import_cli(capsys, bucket_dir / shape.inc2.export_dir, lake_dir,
                                "--format", "json")
    assert code == 0 and json.loads(out)["chain_end"] == "2026-01-14T10:50:00.000000Z"
    rows = coverage_json(capsys, lake_dir)
    assert [(r["what"], r["from"], r["to"]) for r in rows if r["what"] != "compacted"] == [
        ("exact", "2026-01-14T10:18:50.622+00:00", "2026-01-14T10:18:50.622+00:00"),
        ("GAP", "2026-01-14T10:18:50.622+00:00", "2026-01-14T10:19:59.999+00:00"),
        ("change log", "2026-01-14T10:20:00.000+00:00", "2026-01-14T10:49:59.999+00:00")]
    in_gap, note = as_of(capsys, lake_dir, "2026-01-14T10:19:30Z")
    assert in_gap == canonical(shape.history.base)
    assert ("may be missing changes: the change log has a gap from "
            "2026-01-14T10:18:50.622") in note
    later, note = as_of(capsys, lake_dir, "2026-01-14T10:49:59Z")
    assert later == canonical(shape.history.after2)  # the data is there; exactness is not
    assert "may be missing changes" in note


def test_a_perfect_chain_is_exact_where_the_windows_allow(
        builder: ExportBuilder, bucket_dir: Path, lake_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    shape = real_shaped(builder, perfect=True)
    warned = []
    for built in (shape.inc2, shape.full, shape.inc1):  # the last import closes the gap
        code, _, err = import_cli(capsys, bucket_dir / built.export_dir, lake_dir)
        assert code == 0, err
        warned.append("has a gap from" in err)
    assert warned == [False, True, False]
    rows = coverage_json(capsys, lake_dir)
    assert [(r["from"], r["to"]) for r in rows if r["what"] == "exact"] == [
        ("2026-01-14T10:18:50.622+00:00", "2026-01-14T10:18:50.622+00:00"),
        ("2026-01-14T10:30:00.000+00:00", "2026-01-14T10:34:59.999+00:00"),
        ("2026-01-14T10:47:34.353+00:00", "2026-01-14T10:49:59.999+00:00")]
    assert not [r for r in rows if r["what"] == "GAP"]
    assert [(r["from"], r["to"]) for r in rows if r["what"] == "change log"] == [
        ("2026-01-14T10:18:50.622+00:00", "2026-01-14T10:49:59.999+00:00")]
    for when, expected in [("2026-01-14T10:18:50.622Z", shape.history.base),
                           ("2026-01-14T10:34:59Z", shape.history.after1),
                           ("2026-01-14T10:49:59.999Z", shape.history.after2)]:
        items, note = as_of(capsys, lake_dir, when)
        assert items == canonical(expected), when
        assert "note:" not in note, (when, note)
    _, note = as_of(capsys, lake_dir, "2026-01-14T10:25:00Z")  # before window 1's last write
    assert (f"is not exact: incremental export {shape.inc1.export_id} keeps only the last "
            "change of each key in its window: exact from its last write at "
            "2026-01-14T10:30:00.000") in note


def test_window_bounds_of_the_fixture_are_the_real_ones(shape: RealShape) -> None:
    s1, s2 = shape.inc1.summary, shape.inc2.summary
    assert (s1["exportFromTime"], s1["exportToTime"]) == ("2026-01-14T10:20:00.000Z",
                                                          "2026-01-14T10:35:00.000Z")
    assert (s2["exportFromTime"], s2["exportToTime"]) == ("2026-01-14T10:35:00.000Z",
                                                          "2026-01-14T10:50:00.000Z")
    assert shape.full.summary["exportTime"] == "2026-01-14T10:18:50.622Z"
    assert (W1_START - T0).total_seconds() == pytest.approx(69.378)
    assert (s1["itemCount"], s2["itemCount"]) == (6, 5)
    assert [f["itemCount"] for f in shape.inc1.files] == [3, 3, 0, 0]
    assert W1_START < W1_LAST < W1_END < W2_LAST < W2_END
    assert shape.full.summary["tableArn"].startswith("arn:aws:dynamodb:eu-north-1:")
    assert shape.full.summary["tableArn"].endswith(f":table/{TABLE}")


def test_overlapping_windows_in_either_order_give_one_lake(
        builder: ExportBuilder, bucket_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Two windows that overlap hold the same last write of one key (as an insert in the
    first, with its old image in the second): both are kept, replay picks one, the same in
    either order."""
    from datetime import timedelta

    from tests.native.conftest import key_of
    from tests.native.export_builder import change_line
    from tests.native.real_shape import item

    k, k1 = item("user#9", "a", v={"N": "1"}), item("user#9", "a", v={"N": "2"})
    m = item("user#8", "b", v={"N": "1"})
    early = builder.write(builder.incremental(
        [change_line(T0 + timedelta(minutes=15), key_of(k), new=k1)],
        start=T0, end=T0 + timedelta(minutes=20), files=1, empty=0))
    late = builder.write(builder.incremental(
        [change_line(T0 + timedelta(minutes=15), key_of(k), new=k1, old=k),
         change_line(T0 + timedelta(minutes=25), key_of(m), new=m)],
        start=T0 + timedelta(minutes=10), end=T0 + timedelta(minutes=30), files=1, empty=0))
    results = []
    for order in ((early, late), (late, early)):
        lake = tmp_path / order[0].export_id
        for built in order:
            code, _, err = import_cli(capsys, bucket_dir / built.export_dir, lake)
            assert code == 0, err
        items, _ = as_of(capsys, lake, "2026-01-14T10:48:00Z")
        assert items == canonical([k1, m])
        results.append((lake_digest(lake), coverage_json(capsys, lake)))
    assert results[0] == results[1]
    assert [(r["from"], r["to"]) for r in results[0][1] if r["what"] == "change log"] == [
        ("2026-01-14T10:18:50.622+00:00", "2026-01-14T10:48:50.621+00:00")]
