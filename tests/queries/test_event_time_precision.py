"""DynamoDB Streams stamps events to the second: a change made just after an exact snapshot
can carry a time just before it, and as_of must still apply it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb

from lake.coverage import Interval, merge
from lake.fileio import LocalFileIO
from queries.selections import as_of_selection
from schemas.dynamo_json import parse_item
from tests.queries.lakegen import T0, Event, make_item, write_changes, write_snapshot


def _items_at(io: LocalFileIO, ts_offset: timedelta) -> dict[str, dict[str, object]]:
    selection = as_of_selection(io, "events", T0 + ts_offset)
    con = duckdb.connect()
    for statement in selection.setup:
        con.execute(statement)
    rows = con.execute(f"SELECT _item::VARCHAR FROM ({selection.sql})").fetchall()
    return {i["id"]["S"]: i for i in (parse_item(r[0]) for r in rows)}


def test_a_change_stamped_before_an_exact_snapshot_point_is_still_replayed(tmp_path: Path) -> None:
    io = LocalFileIO(tmp_path)
    before = make_item(1)
    write_snapshot(io, "events", [before], T0, split=False)
    after = make_item(1, version=5)
    # Made 0.3 s after the snapshot, stamped at the whole second before it.
    stamped = T0 - timedelta(milliseconds=700)
    write_changes(io, "events", [Event(stamped, "MODIFY", after, before, 0)],
                  covered=(T0 - timedelta(seconds=5), T0 + timedelta(seconds=5)))
    assert _items_at(io, timedelta(seconds=2))["u001"]["qty"] == after["qty"]


def test_touching_log_spans_join() -> None:
    assert merge([Interval(0, 10), Interval(11, 20)]) == [Interval(0, 20)]
    assert merge([Interval(0, 10), Interval(12, 20)]) == [Interval(0, 10), Interval(12, 20)]
