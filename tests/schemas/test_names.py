"""The names lake keys are made of: what a hostile document may not smuggle into a key."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import names
from schemas.errors import ManifestError, UnsafeNameError

# Each entry: a part path a hostile manifest could record, and the words of its refusal.
HOSTILE_PATHS = [
    ("../../x.parquet", "contains '..'"),
    ("data/../../x.parquet", "contains '..'"),
    ("data/../../../etc/passwd", "contains '..'"),
    ("data/..", "contains '..'"),
    ("data/./part.parquet", "contains '.'"),
    ("/etc/passwd", "is absolute"),
    ("/data/part.parquet", "is absolute"),
    ("data//part.parquet", "empty segment"),
    ("data/", "empty segment"),
    ("s3://other-bucket/data/part.parquet", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("file:data/part.parquet", "scheme"),
    ("C:/data/part.parquet", "scheme"),
    ("data\\..\\..\\x.parquet", "backslash"),
    ("data/part\x00.parquet", "control character"),
    ("data/part\n.parquet", "control character"),
    ("data/part\x7f.parquet", "control character"),
    ("data/.hidden.parquet", "starting with '.'"),
    ("data/part one.parquet", "characters outside"),
    ("data/part%2e%2e.parquet", "characters outside"),
    ("data", "is not inside data/"),
    ("changes/2026/x.parquet", "is not inside data/"),
    ("manifest.json", "is not inside data/"),
    ("", "is empty"),
    ("data/" + "a" * 1100, "longer than"),
]


@pytest.mark.parametrize(("path", "reason"), HOSTILE_PATHS)
def test_hostile_part_paths_are_refused_with_their_reason(path: str, reason: str) -> None:
    with pytest.raises(UnsafeNameError, match=reason) as caught:
        names.relative_path(path, under="data", what="part path")
    assert caught.value.exit_code == 4 and isinstance(caught.value, ManifestError)
    assert caught.value.hint and "hostile or damaged" in caught.value.hint


@pytest.mark.parametrize("value", [None, 7, ["data", "x"], {"path": "data/x"}, b"data/x"])
def test_a_path_that_is_not_a_string_is_refused(value: object) -> None:
    with pytest.raises(UnsafeNameError, match="is not a string"):
        names.relative_path(value, under="data")


@pytest.mark.parametrize("path", ["data/part-00000-00001.parquet", "data/a/b=1/c.parquet",
                                  "data/x.y.z", "data/_x", "data/1+2"])
def test_safe_paths_pass_unchanged(path: str) -> None:
    assert names.relative_path(path, under="data") == path


@given(st.lists(st.sampled_from([*"./\\:%_-=+ a0Z\x00\n~", "..", "data/", "data"]),
               max_size=12).map("".join))
def test_whatever_is_accepted_stays_inside_its_folder(text: str) -> None:
    """The property the grammar exists for: no accepted path leaves ``data/`` after a join
    and a normalization (what a file system or an S3 tool may do)."""
    base = "/lake/orders/snapshots/20261122T130501Z-0a2b3c4d"
    try:
        names.relative_path(text, under="data")
    except UnsafeNameError:
        return
    joined = posixpath.normpath(posixpath.join(base, text))
    assert joined.startswith(base + "/data/") and "\\" not in text and ":" not in text


@pytest.mark.parametrize("name", ["orders", "my.table", "My.Table", "a-b_c.d", "...", "x" * 255])
def test_dynamodb_table_names_pass(name: str) -> None:
    assert names.table_name(name) == name


@pytest.mark.parametrize("name", ["ab", "x" * 256, "a/b", "../orders", "..", "or ders",
                                  "orders\x00", "s3://b", "ördérs", "", None])
def test_names_dynamodb_would_refuse_are_refused(name: object) -> None:
    with pytest.raises(UnsafeNameError, match="not a DynamoDB table name"):
        names.table_name(name)


@pytest.mark.parametrize("text", ["20261122T130501Z-0a2b3c4d"])
def test_ids_pass(text: str) -> None:
    assert names.lake_id(text) == text


@pytest.mark.parametrize("text", ["latest", "../20261122T130501Z-0a2b3c4d",
                                  "20261122T130501Z-0a2b3c4d/..", "20261122T130501Z-0A2B3C4D",
                                  "20261122T130501Z-0a2b3c4", "20261122T130501Z-0a2b3c4d\n", 5])
def test_malformed_ids_are_refused(text: object) -> None:
    with pytest.raises(UnsafeNameError, match="not a ddblake id"):
        names.lake_id(text, what="snapshot id")
