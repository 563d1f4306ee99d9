"""Native exports shaped like the public AWS-made one (anchors.md §2.0): table ``test`` in
eu-north-1, a full export at 10:18:50.622 (3 items in 1 of 4 files), then two incremental
exports [10:20:00, 10:35:00) (6 records) and [10:35:00, 10:50:00) (5 records), each in 4
files of the shared data folder. The full export's time and the first window's start leave
the same ~70 s gap as the real one; ``perfect=True`` starts the first window at the full
export's time instead.

The history (every key written at most once per window, as compaction leaves it):

* full export: A, B, C (``every_type_items``);
* window 1: insert D, E, G; update A (total 20); update C (drops ``number``); delete B;
* window 2: update D; delete E; insert H; update A again (total 21); delete G, last at
  10:47:34.353205.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.native.conftest import T0, every_type_items, key_of
from tests.native.export_builder import BuiltExport, ExportBuilder, change_line

TABLE = "test"
REGION = "eu-north-1"
W1_START = datetime(2026, 1, 14, 10, 20, tzinfo=UTC)
W1_END = W2_START = datetime(2026, 1, 14, 10, 35, tzinfo=UTC)
W2_END = datetime(2026, 1, 14, 10, 50, tzinfo=UTC)
W1_LAST = datetime(2026, 1, 14, 10, 30, tzinfo=UTC)
W2_LAST = datetime(2026, 1, 14, 10, 47, 34, 353205, tzinfo=UTC)


def _at(minute: int, second: int = 0) -> datetime:
    return datetime(2026, 1, 14, 10, minute, second, tzinfo=UTC)


def item(pk: str, sk: str, **values: Any) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **values}


@dataclass
class History:
    base: list[dict[str, Any]]
    window1: list[dict[str, Any]]
    window2: list[dict[str, Any]]
    after1: list[dict[str, Any]]  # the table at the end of window 1
    after2: list[dict[str, Any]]  # ... and of window 2


def history() -> History:
    a, b, c = every_type_items()
    d, e, g = (item("user#3", "order#0009", total={"N": "1"}),
               item("user#4", "order#0001", total={"N": "2.000"}, b={"B": "AAEC"}),
               item("user#5", "order#0001", total={"N": "3"}))
    a1 = {**copy.deepcopy(a), "total": {"N": "20"}}
    c1 = {k: v for k, v in copy.deepcopy(c).items() if k != "number"}
    d1 = {**copy.deepcopy(d), "total": {"N": "100"}}
    a2 = {**copy.deepcopy(a1), "total": {"N": "21"}}
    h = item("user#6", "order#0001", note={"S": "late"})
    window1 = [
        change_line(_at(21), key_of(d), new=d), change_line(_at(22), key_of(e), new=e),
        change_line(_at(23), key_of(g), new=g), change_line(_at(24), key_of(a), new=a1, old=a),
        change_line(_at(26), key_of(c), new=c1, old=c), change_line(W1_LAST, key_of(b), old=b)]
    window2 = [
        change_line(_at(40), key_of(d), new=d1, old=d), change_line(_at(41), key_of(e), old=e),
        change_line(_at(42), key_of(h), new=h), change_line(_at(45), key_of(a1), new=a2, old=a1),
        change_line(W2_LAST, key_of(g), old=g)]
    return History([a, b, c], window1, window2, [a1, c1, d, e, g], [a2, c1, d1, h])


@dataclass
class RealShape:
    full: BuiltExport
    inc1: BuiltExport
    inc2: BuiltExport
    history: History

    def exports(self) -> dict[str, BuiltExport]:
        return {"full": self.full, "inc1": self.inc1, "inc2": self.inc2}


def real_shaped(builder: ExportBuilder, *, perfect: bool = False) -> RealShape:
    """Write the three exports with ``builder`` (its table and region are set here)."""
    builder.table, builder.region = TABLE, REGION
    story = history()
    full = builder.write(builder.full(copy.deepcopy(story.base), export_time=T0))
    inc1 = builder.write(builder.incremental(copy.deepcopy(story.window1),
                                             start=T0 if perfect else W1_START, end=W1_END,
                                             files=4, empty=2))
    inc2 = builder.write(builder.incremental(copy.deepcopy(story.window2), start=W2_START,
                                             end=W2_END, files=4, empty=2))
    return RealShape(full, inc1, inc2, story)
