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
