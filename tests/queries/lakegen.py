"""Generated lakes for query tests: a scripted history kept in Python (the expectation) and
snapshots/change batches written with the real codec and writers.

Items drift between parts on purpose: even ids go to part 0, odd ids to part 1; ``price`` is
an integer in even items and a decimal in odd ones (int64 vs decimal128 across parts),
``kind`` is N in even items and S in odd ones (mixed: spine only), and even items carry
``Name`` while odd ones carry ``name`` (a case collision: spine only).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lake import layout
from lake.fileio import FileIO
from lake.writers import SnapshotWriter, write_change_batch
from schemas.changes import ChangeRecord
from schemas.keys import KeyAttribute, KeySchema
from schemas.manifest import Consistency, Manifest, Source
from tests.helpers import encode_part

T0 = datetime(2026, 11, 10, 9, 0, 0, tzinfo=UTC)
KEYS = KeySchema(KeyAttribute("id", "S"))
KEYS_SK = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "N"))
BIG = "9007199254740993"  # 2**53 + 1


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def us(ts: datetime) -> int:
    return int((ts - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def make_item(i: int, *, version: int = 0) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": {"S": f"u{i:03d}"},
        "qty": {"N": str(i + version)},
        "status": {"S": ["active", "closed", "pending"][(i + version) % 3]},
        "big": {"N": BIG},
        "tags": {"SS": sorted({f"t{i % 4}", "all"})},
        "flag": {"BOOL": i % 2 == 0},
        "blob": {"B": "AAEC"},
        "doc": {"M": {"n": {"N": str(i)}, "s": {"S": "x"}}},
    }
    if i % 2 == 0:
        item["price"] = {"N": str(100 + i + version)}
        item["kind"] = {"N": str(i)}
        item["Name"] = {"S": f"Even {i}"}
    else:
        item["price"] = {"N": f"{100 + i + version}.25"}
        item["kind"] = {"S": f"k{i}"}
        item["name"] = {"S": f"odd {i}"}
    if i % 5 == 0:
        item["maybe"] = {"N": str(i * 7)}
    return item


def key_of(item: dict[str, Any], keys: KeySchema = KEYS) -> tuple[str, ...]:
    return tuple(next(iter(item[n].values())) for n in keys.names)


@dataclass
class Event:
    at: datetime
    op: str
    item: dict[str, Any]          # new image (INSERT/MODIFY) or the key (REMOVE)
    old: dict[str, Any] | None
    seq: int


@dataclass
class History:
    """A table's scripted history; ``state_at`` is the expectation."""

    keys: KeySchema = KEYS
    initial: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    def state_at(self, ts: datetime) -> dict[tuple[str, ...], dict[str, Any]]:
        state = copy.deepcopy(self.initial)
        for e in sorted(self.events, key=lambda e: (e.at, e.seq)):
            if e.at > ts:
                break
            self._apply(state, e)
        return state

    def _apply(self, state: dict[tuple[str, ...], dict[str, Any]], e: Event) -> None:
        k = key_of(e.item, self.keys)
        if e.op == "REMOVE":
            state.pop(k, None)
        else:
            state[k] = copy.deepcopy(e.item)

    def record(self, at: datetime, op: str, item: dict[str, Any]) -> None:
        before = self.state_at(at)
        old = before.get(key_of(item, self.keys))
        if op == "REMOVE":
            item = {n: item[n] for n in self.keys.names}
        self.events.append(Event(at, op, copy.deepcopy(item), copy.deepcopy(old),
                                 len(self.events)))


def write_snapshot(io: FileIO, table: str, items: list[dict[str, Any]], at: datetime, *,
                   keys: KeySchema = KEYS, fuzzy_start: datetime | None = None,
                   split: bool = True) -> Manifest:
    """A committed snapshot of ``items``: even/odd ids in two parts when ``split``."""
    sid = layout.new_id(at)
    writer = SnapshotWriter(io, table, sid, keys)
    groups = [[], []] if split else [[]]  # type: list[list[dict[str, Any]]]
    for it in items:
        index = int(it[keys.partition.name]["S"][1:]) % 2 if split else 0
        groups[index].append(copy.deepcopy(it))
    for n, group in enumerate(groups):
        if group:
            writer.write_part(layout.part_name(n, 0), encode_part(writer, group, keys))
    if fuzzy_start is None:
        consistency = Consistency("exact", iso(at), iso(at))
    else:
        consistency = Consistency("fuzzy", iso(fuzzy_start), iso(at))
    return writer.commit(source=Source(table, "export"), consistency=consistency,
                         table_description={"TableName": table})


def write_changes(io: FileIO, table: str, events: list[Event], *,
                  keys: KeySchema = KEYS, covered: tuple[datetime, datetime] | None = None,
                  gaps: list[tuple[datetime, datetime]] = ()) -> None:  # type: ignore[assignment]
    """One committed change batch holding ``events``; ``covered`` is the span the log is
    complete over (as the stream consumer records it), ``gaps`` trimmed spans."""
    records = []
    for e in events:
        key = {n: copy.deepcopy(e.item[n]) for n in keys.names}
        new = None if e.op == "REMOVE" else copy.deepcopy(e.item)
        records.append(ChangeRecord(us(e.at), e.op, key, new, copy.deepcopy(e.old),  # type: ignore[arg-type]
                                    "stream:shard-1", f"{e.seq:020d}"))
    first = min(e.at for e in events)
    source: dict[str, Any] = {"kind": "stream"}
    if covered:
        source.update(covered_from_us=us(covered[0]), covered_to_us=us(covered[1]))
    if gaps:
        source["gaps"] = [{"from_us": us(a), "to_us": us(b), "reason": "trimmed"}
                          for a, b in gaps]
    write_change_batch(io, table, keys, records, source=source,
                       positions={"shard-1": str(len(records))},
                       batch_id=layout.new_id(first))


def standard_history(n: int = 40) -> History:
    """n items at T0; then updates, attribute removals, deletes and a re-insert."""
    h = History()
    for i in range(n):
        it = make_item(i)
        h.initial[key_of(it)] = it
    t = T0 + timedelta(seconds=10)
    h.record(t, "MODIFY", make_item(1, version=1))
    h.record(t + timedelta(microseconds=1), "MODIFY", make_item(1, version=2))
    trimmed = make_item(2, version=1)
    trimmed.pop("maybe", None)
    del trimmed["status"]
    h.record(t + timedelta(seconds=5), "MODIFY", trimmed)
    h.record(t + timedelta(seconds=20), "REMOVE", make_item(3))
    h.record(t + timedelta(seconds=21), "REMOVE", make_item(4))
    h.record(t + timedelta(seconds=30), "INSERT", make_item(n + 1))
    h.record(t + timedelta(seconds=40), "INSERT", make_item(4, version=5))
    h.record(t + timedelta(seconds=50), "REMOVE", make_item(n + 1))
    h.record(t + timedelta(seconds=60), "MODIFY", make_item(5, version=3))
    return h
