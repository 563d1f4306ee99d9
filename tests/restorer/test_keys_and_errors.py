"""Keys files as untrusted text, keys that match nothing, and the restore's clear errors
(a filter failing on a row, a missing part, an empty filter)."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from lake import catalog, layout
from lake.fileio import load_file_io
from lake.progress import RecordingListener
from restorer import restore
from restorer.config import RestoreConfig
from restorer.keysfile import load_keys
from restorer.select import Query, resolve_source
from schemas.errors import UsageError
from schemas.keys import KeyAttribute, KeySchema
from tests.helpers import run_cli
from tests.restorer.lakehelp import snapshot_items

DESCRIPTION = {"TableName": "events",
               "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                             {"AttributeName": "sk", "KeyType": "RANGE"}],
               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                        {"AttributeName": "sk", "AttributeType": "N"}]}
KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "N"))
ITEMS = [{"pk": {"S": f"p{i % 4}"}, "sk": {"N": str(i)}, "word": {"S": "x" if i % 5 else "7"}}
         for i in range(20)]


@pytest.fixture
def lake(lake_dir: Path) -> Path:
    snapshot_items(lake_dir, "events", ITEMS, DESCRIPTION, parts=2)
    return lake_dir


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_a_bom_is_accepted_in_csv_and_json_lines(tmp_path: Path) -> None:
    csv_file = write(tmp_path / "k.csv", codecs.BOM_UTF8 + b"pk,sk\r\np1,1.0\r\np2,2\r\n")
    table = load_keys(csv_file, KEYS)
    assert table.column("k0").to_pylist() == ["p1", "p2"]
    assert table.column("k1").to_pylist() == ["1", "2"]
    lines = codecs.BOM_UTF8 + b'{"pk": "p1", "sk": 1}\n\n{"pk": {"S": "p1"}, "sk": {"N": "1E0"}}\n'
    table = load_keys(write(tmp_path / "k.jsonl", lines), KEYS)
    assert table.num_rows == 1  # the same key twice, by value


@pytest.mark.parametrize(("data", "words"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "line 1 is not UTF-8 text"),
    (b"pk,sk\na,1\x00\n", "line 2 holds a NUL byte"),
    (b"pk,sk\np1,1\np\xe9,2\n", "line 3 is not UTF-8"),
    (b'{"pk": "a", "sk": 1}\n\n{"pk": "b", "sk": 2\n', "line 3 is not a JSON object"),
    (b'{"pk": "a", "sk": 1}\n[1, 2]\n', "line 2 is not a JSON object"),
    (b'{"pk": "a", "sk": 1}\n{"pk": "b"}\n', "line 2: no key attribute 'sk'"),
    (b'{"pk": "a", "sk": "seven"}\n', "line 1: key sk 'seven' is not a number"),
    (b'{"pk": "a", "sk": "NaN"}\n', "line 1: key sk 'NaN' is not a number"),
    (b'{"pk": true, "sk": 1}\n', "line 1: key pk is not a string"),
    (b'{"pk": {"N": "1"}, "sk": 1}\n', "line 1: key pk must be of type S"),
    (b"id,sk\na,1\n", "line 1: the CSV header has no column 'pk'"),
    (b"pk,sk\na,1\nb,2,3\n", "line 3 has 3 fields, the header 2"),
    (b"pk,sk\na,1\n,2\n", "line 3: key pk is missing"),
    (b'pk,sk\na,1\n"b"x,2\n', "line 3 is not CSV"),
])
def test_a_bad_keys_file_names_the_line(tmp_path: Path, data: bytes, words: str) -> None:
    with pytest.raises(UsageError) as info:
        load_keys(write(tmp_path / "keys", data), KEYS)
    assert words in info.value.message and info.value.hint, info.value.message


def test_binary_keys_base64_by_value(tmp_path: Path) -> None:
    keys = KeySchema(KeyAttribute("b", "B"))
    table = load_keys(write(tmp_path / "k.csv", b"b\nAAE=\n"), keys)
    assert table.column("k0").to_pylist() == ["AAE="]
    with pytest.raises(UsageError, match="line 2: key b is not base64"):
        load_keys(write(tmp_path / "k2.csv", b"b\nnot base64!\n"), keys)


def test_keys_that_match_nothing_are_counted_and_named(aws: None, lake: Path,
                                                       tmp_path: Path) -> None:
    keys = write(tmp_path / "k.csv", b"pk,sk\np1,1\np1,1.00\np2,2\nnope,1\np1,999\n")
    listener = RecordingListener()
    result = restore(RestoreConfig(lake=str(lake), target="events-back", keys_file=keys),
                     listener=listener)
    assert result.ok and result.written == 2 and result.keys_unmatched == 2
    assert result.to_dict()["keys_unmatched"] == 2
    assert any("2 of 4 keys" in m and "matched no item" in m for m in listener.messages)
    # --where narrows further; the keys still matched items of the selection.
    dry = restore(RestoreConfig(lake=str(lake), target="x", keys_file=keys, dry_run=True,
                                where="sk = 1"))
    assert (dry.selected, dry.keys_unmatched) == (1, 2)


def test_cli_reports_keys_and_refuses_bad_files(aws: None, lake: Path, tmp_path: Path,
                                                capsys: Any) -> None:
    keys = write(tmp_path / "k.jsonl", b'{"pk": "p0", "sk": 0}\n{"pk": "zz", "sk": 0}\n')
    code, _, err = run_cli(capsys, "restore", "events", "--lake", str(lake), "--to", "x",
                             "--keys", keys, "--dry-run")
    assert code == 0 and "keys_unmatched: 1" in err and "1 of 2 keys" in err, err
    binary = write(tmp_path / "k.bin", bytes(range(256)))
    code, _, err = run_cli(capsys, "restore", "events", "--lake", str(lake), "--to", "x",
                             "--keys", binary, "--dry-run")
    assert code == 2 and "NUL byte" in err and "hint:" in err and "Traceback" not in err


def test_a_filter_failing_on_a_row_exits_2_with_a_hint(aws: None, lake: Path,
                                                       capsys: Any) -> None:
    for flags in (["--dry-run"], []):
        code, _, err = run_cli(capsys, "restore", "events", "--lake", str(lake), "--to", "y",
                                 "--where", "CAST(word AS INTEGER) = 7", *flags)
        assert code == 2 and "failed on a selected row" in err, err
        assert "TRY_CAST" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "restore", "events", "--lake", str(lake), "--to", "y",
                             "--where", "TRY_CAST(word AS INTEGER) = 7", "--dry-run")
    assert code == 0 and "would_write: 4" in err, err


def test_an_empty_filter_is_refused_not_ignored(aws: None, lake: Path, capsys: Any) -> None:
    code, _, err = run_cli(capsys, "restore", "events", "--lake", str(lake), "--to", "y",
                           "--where", " ", "--dry-run")
    assert code == 2 and "is empty" in err


def test_a_deleted_part_is_missing_not_refused(aws: None, lake: Path, capsys: Any) -> None:
    io = load_file_io(str(lake))
    manifest = catalog.find_snapshot(io, "latest", "events")
    (lake / layout.snapshot_part("events", manifest.snapshot_id,
                                 manifest.parts[1].path)).unlink()
    for where in ([], ["--where", "sk > 3"]):
        code, _, err = run_cli(capsys, "restore", "events", "--lake", str(lake), "--to", "y",
                               "--dry-run", *where)
        assert code == 5 and "missing" in err and "sandbox" not in err, err


def test_the_fingerprint_is_the_selection_hash(lake: Path) -> None:
    """Resumes compare this fingerprint with the one journaled by earlier versions."""
    config = RestoreConfig(lake=str(lake), target="t")
    source = resolve_source(load_file_io(str(lake)), config)
    query = Query(source, config)
    try:
        count, fingerprint = query.count()
    finally:
        query.close()
    con = duckdb.connect()
    row = con.sql(f"SELECT count(*), coalesce(sum(hash(_item)), 0)::VARCHAR "
                  f"FROM ({source.selection.sql})").fetchone()
    assert (count, fingerprint) == (len(ITEMS), row[1] if row else None)
    assert json.loads(json.dumps(fingerprint)) == fingerprint
