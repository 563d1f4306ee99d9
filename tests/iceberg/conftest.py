"""A lake with three snapshots (exact, fuzzy, exact at a sub-millisecond point) and a complete
change log in three batches; the table gains a column (``note``) after the first snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from lake.fileio import FileIO
from schemas.changes import ChangeBatch
from schemas.manifest import Manifest
from tests.iceberg.lakegen import History, snapshot_id_at, write_batch, write_snapshot

T0 = 1_795_341_600_000_000  # 2026-11-22T10:00:00Z in µs
S = 1_000_000


@dataclass
class Scenario:
    history: History
    snapshots: list[Manifest]
    batches: list[ChangeBatch]


def history() -> History:
    h = History()
    h.write(T0 + 1 * S, "a", {"price": Decimal("3.25"), "qty": 1, "tags": ["x"]})
    h.write(T0 + 1 * S + 5, "b", {"price": Decimal("19.99"), "qty": 9007199254740993})
    h.write(T0 + 2 * S, "c", {"price": Decimal("-0.01"), "qty": 0, "tags": []})
    h.write(T0 + 20 * S, "a", {"price": Decimal("4.50"), "qty": 1, "tags": ["x", "y"]})
    h.write(T0 + 21 * S, "d", {"price": Decimal("99999999999999999999999999999999999.99")})
    h.write(T0 + 22 * S, "b", None)
    h.write(T0 + 27 * S, "c", {"price": Decimal("1.00"), "qty": 2, "note": "mid-scan"})
    h.write(T0 + 40 * S, "e", {"price": Decimal("7.77"), "note": "hello"})
    h.write(T0 + 41 * S, "a", None)
    h.write(T0 + 50 * S + 200, "c", {"price": Decimal("1.50"), "qty": 2})  # in S3, not at 50 s
    h.write(T0 + 50 * S + 700, "d", {"price": Decimal("0.10"), "qty": 5})
    h.write(T0 + 60 * S, "e", {"price": Decimal("8.88"), "note": "bye"})
    h.write(T0 + 61 * S, "b", {"price": Decimal("2.00"), "qty": 3})
    return h


def write_snapshots(io: FileIO, h: History) -> list[Manifest]:
    return [
        write_snapshot(io, h, snapshot_id_at(T0 + 10 * S, "s1"), start_us=T0 + 10 * S,
                       end_us=T0 + 10 * S, with_note=False),
        write_snapshot(io, h, snapshot_id_at(T0 + 24 * S, "s2"), start_us=T0 + 24 * S,
                       end_us=T0 + 30 * S, kind="fuzzy"),
        write_snapshot(io, h, snapshot_id_at(T0 + 50 * S, "s3"), start_us=T0 + 50 * S + 500,
                       end_us=T0 + 50 * S + 500),
    ]


def write_batches(io: FileIO, h: History) -> list[ChangeBatch]:
    return [
        write_batch(io, h, snapshot_id_at(T0, "b1"), T0, T0 + 15 * S - 1, with_note=False),
        write_batch(io, h, snapshot_id_at(T0 + 15 * S, "b2"), T0 + 15 * S, T0 + 45 * S - 1),
        write_batch(io, h, snapshot_id_at(T0 + 45 * S, "b3"), T0 + 45 * S, T0 + 70 * S),
    ]


def build(io: FileIO) -> Scenario:
    h = history()
    return Scenario(h, write_snapshots(io, h), write_batches(io, h))


@pytest.fixture
def scenario_io(lake_dir: object) -> FileIO:
    from lake.fileio import LocalFileIO

    return LocalFileIO(str(lake_dir))


@pytest.fixture
def scenario(scenario_io: FileIO) -> Scenario:
    return build(scenario_io)
