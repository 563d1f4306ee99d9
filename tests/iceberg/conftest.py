"""A lake with three snapshots (exact, fuzzy, exact at a sub-millisecond point) and a complete
change log in three batches, written by ddblake's format 2 writers. The table's schema grows:
schema 1 (price, qty, tags) from the first part of the first snapshot; its commit adds ``m``
(seen only in its second part, so in ``_rest`` there), the second snapshot's adds ``note``;
``_meta`` (a reserved name) and a price with 7 decimals always stay in ``_rest``."""

from __future__ import annotations

from dataclasses import dataclass

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
    lake: str  # the lake's URI, for `ddblake query --lake`


def n(text: str) -> dict[str, str]:
    return {"N": text}


BIG = "99999999999999999999999999999999.999999"  # 38 digits: the most decimal(38, 6) holds
NOT_HELD = "1.1234567"  # 7 decimals: no decimal(38, 6) holds it, so it stays in _rest


def history() -> History:
    h = History()
    h.write(T0 + 1 * S, "a", {"price": n("3.25"), "qty": n("1"), "tags": {"SS": ["x"]}})
    h.write(T0 + 1 * S + 5, "b", {"price": n("19.99"), "qty": n("9007199254740993")})
    h.write(T0 + 2 * S, "c", {"price": n("-0.01"), "qty": n("0")})
    h.write(T0 + 3 * S, "f", {"price": n(NOT_HELD), "_meta": {"S": "no column"},
                              "m": {"M": {"k": n("1"), "l": {"L": [{"NULL": True}]}}}})
    h.write(T0 + 20 * S, "a", {"price": n("4.5"), "qty": n("1"), "tags": {"SS": ["y", "x"]}})
    h.write(T0 + 21 * S, "d", {"price": n(BIG)})
    h.write(T0 + 22 * S, "b", None)
    h.write(T0 + 27 * S, "c", {"price": n("1"), "qty": n("2"), "note": {"S": "mid-scan"}})
    h.write(T0 + 40 * S, "e", {"price": n("7.77"), "note": {"S": "hello"}})
    h.write(T0 + 41 * S, "a", None)
    h.write(T0 + 50 * S + 200, "c", {"price": n("1.5"), "qty": n("2")})  # in S3, not at 50 s
    h.write(T0 + 50 * S + 700, "d", {"price": n("0.1"), "qty": n("5")})
    h.write(T0 + 60 * S, "e", {"price": n(NOT_HELD), "note": {"S": "bye"}})
    h.write(T0 + 61 * S, "b", {"price": n("-" + BIG), "qty": n("3")})
    return h


def write_snapshots(io: FileIO, h: History) -> list[Manifest]:
    return [
        write_snapshot(io, h, snapshot_id_at(T0 + 10 * S, "s1"), start_us=T0 + 10 * S,
                       end_us=T0 + 10 * S),
        write_snapshot(io, h, snapshot_id_at(T0 + 24 * S, "s2"), start_us=T0 + 24 * S,
                       end_us=T0 + 30 * S, kind="fuzzy"),
        write_snapshot(io, h, snapshot_id_at(T0 + 50 * S, "s3"), start_us=T0 + 50 * S + 500,
                       end_us=T0 + 50 * S + 500),
    ]


def write_batches(io: FileIO, h: History) -> list[ChangeBatch]:
    return [
        write_batch(io, h, snapshot_id_at(T0, "b1"), T0, T0 + 15 * S - 1),
        write_batch(io, h, snapshot_id_at(T0 + 15 * S, "b2"), T0 + 15 * S, T0 + 45 * S - 1),
        write_batch(io, h, snapshot_id_at(T0 + 45 * S, "b3"), T0 + 45 * S, T0 + 70 * S),
    ]


def build(io: FileIO) -> Scenario:
    h = history()
    return Scenario(h, write_snapshots(io, h), write_batches(io, h), io.uri)


@pytest.fixture
def scenario_io(lake_dir: object) -> FileIO:
    from lake.fileio import LocalFileIO

    return LocalFileIO(str(lake_dir))


@pytest.fixture
def scenario(scenario_io: FileIO) -> Scenario:
    return build(scenario_io)
