"""Fixtures: native exports built in the real layout (anchors.md §2.7)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.native.export_builder import ExportBuilder, LocalBucket, change_line

T0 = datetime(2026, 1, 14, 10, 18, 50, 622000, tzinfo=UTC)


def every_type_items() -> list[dict[str, Any]]:
    """Three items covering every type, nested B in M/L, sets, NULL, BOOL, awkward N."""
    return [
        {"pk": {"S": "user#1"}, "sk": {"S": "order#0001"}, "total": {"N": "12.50"},
         "paid": {"BOOL": True}, "note": {"NULL": True}, "blob": {"B": "AAEC"},
         "tags": {"SS": ["b", "a"]}, "qtys": {"NS": ["10", "2", "-3.5"]},
         "sigs": {"BS": ["ERER", "AAAA"]},
         "items": {"L": [{"S": "x"}, {"N": "1"}, {"B": "dGVzdA=="}]},
         "addr": {"M": {"zip": {"S": "75001"}, "raw": {"B": "dGVzdA=="},
                        "deep": {"M": {"l": {"L": [{"BS": ["AQ==", "AA=="]}]}}}}}},
        {"pk": {"S": "user#1"}, "sk": {"S": "order#0002"},
         "big": {"N": "12345678901234567890123456789012345678"},
         "tiny": {"N": "1E-130"}, "neg": {"N": "-9.9999999999999999999999999999999999999E+125"},
         "name": {"S": "Zoë 🚀 \"quoted\" \\ back"}, "empty": {"S": ""}},
        {"pk": {"S": "user#2"}, "sk": {"S": "order#0001"}, "total": {"N": "5"},
         "number": {"N": "7"}, "flag": {"BOOL": False}},
    ]


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"pk": item["pk"], "sk": item["sk"]}


@pytest.fixture
def bucket_dir(tmp_path: Path) -> Path:
    path = tmp_path / "bucket"
    path.mkdir()
    return path


@pytest.fixture
def builder(bucket_dir: Path) -> ExportBuilder:
    return ExportBuilder(LocalBucket(bucket_dir))


@pytest.fixture
def items() -> list[dict[str, Any]]:
    return every_type_items()


def i1_lines(start: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """I1: inserts only. Returns (lines, inserted items)."""
    inserted = [
        {"pk": {"S": "user#3"}, "sk": {"S": "order#0009"}, "total": {"N": "1"}},
        {"pk": {"S": "user#4"}, "sk": {"S": "order#0001"}, "total": {"N": "2.000"},
         "b": {"B": "AAEC"}},
    ]
    lines = [change_line(start + timedelta(minutes=2 + i), key_of(it), new=copy.deepcopy(it))
             for i, it in enumerate(inserted)]
    return lines, inserted


def i2_lines(start: datetime, base: list[dict[str, Any]], i1: list[dict[str, Any]],
             *, view: str = "NEW_AND_OLD_IMAGES") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """I2: an update removing an attribute (base[2] loses `number`), a delete of an I1
    insert and a delete of a base item. Returns (lines, the updated item)."""
    updated = {k: v for k, v in copy.deepcopy(base[2]).items() if k != "number"}
    updated["total"] = {"N": "13"}
    new_and_old = view == "NEW_AND_OLD_IMAGES"
    lines = [
        change_line(start + timedelta(minutes=1), key_of(updated), new=updated,
                    old=copy.deepcopy(base[2]) if new_and_old else None),
        change_line(start + timedelta(minutes=2), key_of(i1[0]),
                    old=copy.deepcopy(i1[0]) if new_and_old else None),
        change_line(start + timedelta(minutes=3), key_of(base[1]),
                    old=copy.deepcopy(base[1]) if new_and_old else None, plain_ts=True),
    ]
    return lines, updated
