from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ddblake.sampledata import orders
from lake import catalog, layout
from lake.commit import commit_snapshot
from lake.fileio import LocalFileIO
from schemas.errors import AlreadyExistsError, MissingDataError, NotFoundError, UsageError
from tests.lake.snapshots import make_snapshot


def test_only_committed_snapshots_are_listed(lake_dir: Path) -> None:
    io = LocalFileIO(lake_dir)
    committed = make_snapshot(io, "orders", [list(orders(10))])
    # An interrupted export: parts without a manifest.
    io.write(layout.snapshot_part("orders", layout.new_id(), layout.part_name(0, 0)), b"orphan")
    assert [m.snapshot_id for m in catalog.list_snapshots(io)] == [committed.snapshot_id]
    assert catalog.find_snapshot(io, "latest").snapshot_id == committed.snapshot_id
    assert catalog.find_snapshot(io, committed.snapshot_id).totals.items == 10


def test_a_second_commit_of_the_same_snapshot_is_refused(lake_dir: Path) -> None:
    io = LocalFileIO(lake_dir)
    manifest = make_snapshot(io, "orders", [list(orders(5))])
    with pytest.raises(AlreadyExistsError):
        commit_snapshot(io, manifest)


def test_commit_refuses_when_a_part_is_missing(lake_dir: Path) -> None:
    io = LocalFileIO(lake_dir)
    manifest = make_snapshot(io, "orders", [list(orders(5))])
    io.delete(layout.snapshot_manifest("orders", manifest.snapshot_id))
    io.delete(layout.snapshot_part("orders", manifest.snapshot_id, manifest.parts[0].path))
    with pytest.raises(MissingDataError):
        commit_snapshot(io, manifest)


def test_lookups_explain_what_to_do(lake_dir: Path) -> None:
    io = LocalFileIO(lake_dir)
    with pytest.raises(NotFoundError, match="no tables"):
        catalog.find_snapshot(io, "latest")
    make_snapshot(io, "orders", [list(orders(3))])
    make_snapshot(io, "users", [list(orders(3))])
    with pytest.raises(UsageError, match="several tables") as caught:
        catalog.find_snapshot(io, "latest")
    assert caught.value.hint == "name one with --table"
    with pytest.raises(UsageError, match="not a snapshot id"):
        catalog.find_snapshot(io, "yesterday")


def test_snapshot_ids_sort_by_time() -> None:
    early = layout.new_id(datetime(2026, 1, 1, tzinfo=UTC))
    late = layout.new_id(datetime(2026, 1, 2, tzinfo=UTC))
    assert early < late and layout.is_id(early)
    assert layout.id_time(late) == datetime(2026, 1, 2, tzinfo=UTC)


def test_ids_made_within_one_second_sort_in_the_order_they_were_made() -> None:
    second = datetime(2026, 11, 22, 12, 28, 17, tzinfo=UTC)
    made = [layout.new_id(second.replace(microsecond=us)) for us in (0, 9, 10, 65_535, 999_999)]
    assert sorted(made) == made and all(layout.is_id(i) for i in made)
    assert len({layout.new_id(second) for _ in range(50)}) > 1  # the random part is there
