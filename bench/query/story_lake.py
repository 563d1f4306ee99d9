"""A small lake for trying the query commands as a new user would (used by docs/query.md).

    .venv/bin/python bench/query/story_lake.py /tmp/story-lake

Table ``users`` (200 sample profiles): a snapshot on Monday 2026-11-16 00:00Z, a change log
over the week (plan upgrades, balance edits, a few deletions, one sign-up) and a second
snapshot on Saturday 2026-11-21 00:00Z.
"""

from __future__ import annotations

import copy
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from ddblake.sampledata import users
from lake import layout
from lake.fileio import load_file_io
from lake.writers import SnapshotWriter, write_change_batch
from schemas.changes import ChangeRecord
from schemas.codec import encode_items
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Source

KEYS = KeySchema(KeyAttribute("user_id", "S"))
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="microseconds").replace("+00:00", "Z")


def snapshot(io: Any, state: dict[str, Any], at: datetime) -> None:
    writer = SnapshotWriter(io, "users", layout.new_id(at), KEYS)
    writer.write_part(layout.part_name(0, 0), encode_items(copy.deepcopy(list(state.values())),
                                                           KEYS))
    writer.commit(source=Source("users", "export"),
                  consistency=Consistency("exact", iso(at), iso(at)),
                  table_description={"TableName": "users"})


def main(root: str) -> None:
    io = load_file_io(root)
    state = {u["user_id"]["S"]: u for u in users(200)}
    snapshot(io, state, MONDAY)
    records = []
    for n, (when, uid, change) in enumerate(script()):
        old = copy.deepcopy(state.get(uid))
        if change is None:
            state.pop(uid)
            new = None
        else:
            state[uid] = {**copy.deepcopy(old or {}), **change}
            new = copy.deepcopy(state[uid])
        op = "REMOVE" if new is None else ("INSERT" if old is None else "MODIFY")
        records.append(ChangeRecord(int(when.timestamp() * 1_000_000), op,  # type: ignore[arg-type]
                                    {"user_id": {"S": uid}}, new, old, "stream:demo",
                                    f"{n:020d}"))
    covered = {"kind": "demo", "covered_from_us": int(MONDAY.timestamp() * 1_000_000),
               "covered_to_us": int((MONDAY + timedelta(days=5)).timestamp() * 1_000_000)}
    write_change_batch(io, "users", KEYS, records, source=covered, positions={},
                       batch_id=layout.new_id(MONDAY + timedelta(hours=1)))
    snapshot(io, state, MONDAY + timedelta(days=5))


def script() -> list[tuple[datetime, str, dict[str, Any] | None]]:
    tue = MONDAY + timedelta(days=1)
    return [
        (tue + timedelta(hours=9, minutes=30), "user-000042", {"plan": {"S": "pro"}}),
        (tue + timedelta(hours=15), "user-000007", {"balance": {"N": "1234567.89"}}),
        (tue + timedelta(days=1, hours=11), "user-000042", {"balance": {"N": "0.01"}}),
        (tue + timedelta(days=2, hours=3), "user-000013", None),
        (tue + timedelta(days=2, hours=3, seconds=1), "user-000014", None),
        (tue + timedelta(days=3), "user-000200",
         {"user_id": {"S": "user-000200"}, "name": {"S": "New Person"},
          "plan": {"S": "free"}, "balance": {"N": "0"}}),
    ]


if __name__ == "__main__":
    main(sys.argv[1])
