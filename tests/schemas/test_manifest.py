from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from ddblake.sampledata import orders
from lake.fileio import LocalFileIO
from schemas.errors import ManifestError
from schemas.manifest import parse_manifest
from tests.lake.snapshots import make_snapshot


@pytest.fixture
def manifest_bytes(lake_dir: Path) -> bytes:
    manifest = make_snapshot(LocalFileIO(lake_dir), "orders", [list(orders(30)),
                                                                list(orders(20, start=30))])
    return manifest.to_bytes()


def test_real_manifest_validates_against_published_schema(manifest_bytes: bytes) -> None:
    schema = json.loads(resources.files("schemas").joinpath("manifest.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(manifest_bytes), schema)


def test_parse_roundtrip(manifest_bytes: bytes) -> None:
    manifest = parse_manifest(manifest_bytes)
    assert manifest.totals.items == 50 and len(manifest.parts) == 2
    assert parse_manifest(manifest.to_bytes()) == manifest


@pytest.mark.parametrize("position", [10, 200, -70])
def test_a_flipped_byte_is_refused(manifest_bytes: bytes, position: int) -> None:
    damaged = bytearray(manifest_bytes)
    damaged[position] ^= 0x01
    with pytest.raises(ManifestError):
        parse_manifest(bytes(damaged))


def test_truncated_and_foreign_documents_are_refused(manifest_bytes: bytes) -> None:
    with pytest.raises(ManifestError, match="not valid JSON"):
        parse_manifest(manifest_bytes[:100])
    with pytest.raises(ManifestError, match="kind"):
        parse_manifest(b'{"kind": "other"}')


def test_unknown_format_version_names_the_fix(manifest_bytes: bytes) -> None:
    document = json.loads(manifest_bytes)
    document["format_version"] = 99
    with pytest.raises(ManifestError, match="format_version 99") as caught:
        parse_manifest(json.dumps(document).encode())
    assert caught.value.hint and "upgrade" in caught.value.hint


def test_a_consistent_edit_with_a_recomputed_checksum_still_needs_sane_totals(
        manifest_bytes: bytes) -> None:
    from schemas.models import dump_checked

    document = json.loads(manifest_bytes)
    document["totals"]["items"] += 1
    with pytest.raises(ManifestError, match="totals"):
        parse_manifest(dump_checked(document))


# A manifest is untrusted input: anyone can recompute its self-checksum. These documents
# all carry a correct checksum; what they name must still be refused.
def _forged(manifest_bytes: bytes, **changes: object) -> bytes:
    from schemas.models import dump_checked

    document = json.loads(manifest_bytes)
    for field, value in changes.items():
        if field == "path":
            document["parts"][0]["path"] = value
        else:
            document[field] = value
    return dump_checked(document)


@pytest.mark.parametrize("path", ["../../x.parquet", "data/../../x", "data/../../../../etc/x",
                                  "/tmp/x.parquet", "s3://other/x.parquet", "file:///tmp/x",
                                  "data\\..\\x", "data//x", "data/x\x00", "data/x\r",
                                  "manifest.json", "changes/2026/11/22/x.parquet"])
def test_part_paths_outside_the_snapshot_data_folder_are_refused(manifest_bytes: bytes,
                                                                 path: str) -> None:
    with pytest.raises(ManifestError, match="part path") as caught:
        parse_manifest(_forged(manifest_bytes, path=path), what="s3://lake/t/manifest.json")
    assert caught.value.exit_code == 4
    assert caught.value.message.startswith("s3://lake/t/manifest.json: part path")
    assert caught.value.hint and "do not use it" in caught.value.hint


def test_a_part_listed_twice_is_refused(manifest_bytes: bytes) -> None:
    from schemas.models import dump_checked

    document = json.loads(manifest_bytes)
    document["parts"][1]["path"] = document["parts"][0]["path"]
    with pytest.raises(ManifestError, match="listed twice"):
        parse_manifest(dump_checked(document))


@pytest.mark.parametrize(("field", "value", "words"), [
    ("table", "../other", "not a DynamoDB table name"),
    ("table", "a/b", "not a DynamoDB table name"),
    ("snapshot_id", "../../20261122T130501Z-0a2b3c4d", "not a ddblake id"),
    ("snapshot_id", "latest", "not a ddblake id"),
    ("snapshot_id", 20261122, "not a ddblake id"),
])
def test_table_names_and_ids_must_have_their_shapes(manifest_bytes: bytes, field: str,
                                                    value: object, words: str) -> None:
    with pytest.raises(ManifestError, match=words):
        parse_manifest(_forged(manifest_bytes, **{field: value}))


def test_change_batches_are_held_to_the_same_rules(lake_dir: Path) -> None:
    from datetime import UTC, datetime

    from schemas.changes import parse_change_batch
    from schemas.models import dump_checked
    from tests.lakecare.lakehelp import make_changes

    batch = make_changes(LocalFileIO(lake_dir), datetime(2026, 11, 22, tzinfo=UTC))
    good = batch.to_bytes()
    assert parse_change_batch(good) == batch
    for path in ["../../x.parquet", "changes/../../x.parquet", "/tmp/x.parquet",
                 "changes/_manifests/other.json", "data/part-00000-00000.parquet"]:
        document = json.loads(good)
        document["parts"][0]["path"] = path
        with pytest.raises(ManifestError, match="part path"):
            parse_change_batch(dump_checked(document))
    for field, value in [("batch_id", "../x"), ("table", "../orders")]:
        document = json.loads(good)
        document[field] = value
        with pytest.raises(ManifestError, match="not a"):
            parse_change_batch(dump_checked(document))


def test_the_published_schema_states_the_same_rule(manifest_bytes: bytes) -> None:
    """Other tools reading the JSON Schema refuse what parse_manifest refuses."""
    from tests.schemas.test_names import HOSTILE_PATHS

    schema = json.loads(resources.files("schemas").joinpath("manifest.schema.json").read_text())
    for path, _ in HOSTILE_PATHS:
        document = json.loads(manifest_bytes)
        document["parts"][0]["path"] = path
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, schema)
