"""lake.coverage over imported incremental exports: whole exports only, compacted windows,
the stretch from a snapshot to the start of the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporter.export_chain import load_chain
from lake.coverage import Interval, coverage
from lake.fileio import LocalFileIO
from lake.writers import write_change_batch
from tests.changes.builders import BASE_US, KEYS, batch, put, snapshot

S = 1_000_000
T = "orders"
ARN = "arn:aws:dynamodb:eu-north-1:123456789012:table/orders"


def export_batch(lake: LocalFileIO, records: list[Any], *, start: int, end: int, items: int,
                 chunk: int = 0, name: str = "01795334400000-0a1b2c3d") -> None:
    """One batch of an incremental export of the window [start, end) (µs)."""
    source = {"kind": "incremental_export", "export_arn": f"{ARN}/export/{name}",
              "table_arn": ARN, "table_id": "t-1", "from": _iso(start), "to": _iso(end),
              "covered_from_us": start, "covered_to_us": end - 1, "export_items": items}
    write_change_batch(lake, T, KEYS, records, source=source, positions={},
                       batch_id=f"20261122T080000Z-{name[-8:-4]}{chunk:04d}")


def _iso(us: int) -> str:
    from tests.changes.builders import iso

    return iso(us)


def test_an_export_counts_only_once_all_its_batches_are_committed(tmp_path: Path) -> None:
    lake = LocalFileIO(tmp_path)
    start, end = BASE_US, BASE_US + 900 * S
    export_batch(lake, [put("a", start + S, 1), put("b", start + 2 * S, 2)], start=start,
                 end=end, items=3)
    assert coverage(lake, T).log == () and load_chain(lake, T) is None
    export_batch(lake, [put("c", start + 3 * S, 3)], start=start, end=end, items=3, chunk=1)
    cov = coverage(lake, T)
    assert cov.log == (Interval(start, end - 1),)
    assert [(c.start_us, c.end_us) for c in cov.compacted] == [(start, start + 3 * S - 1)]
    chain = load_chain(lake, T)
    assert chain is not None and len(chain.links) == 1 and chain.links[0].rows == 3


def test_a_fuzzy_snapshot_inside_a_compacted_stretch_is_not_exact(tmp_path: Path) -> None:
    lake = LocalFileIO(tmp_path)
    start, end = BASE_US, BASE_US + 900 * S
    export_batch(lake, [put("a", start + 600 * S, 1)], start=start, end=end, items=1)
    fuzzy = snapshot(lake, T, [], start_us=start + 100 * S, end_us=start + 200 * S)
    assert coverage(lake, T).intervals == (Interval(start + 600 * S, end - 1, fuzzy),)


def test_an_exact_snapshot_inside_a_compacted_stretch_is_exact_at_its_point(
        tmp_path: Path) -> None:
    lake = LocalFileIO(tmp_path)
    start, end = BASE_US, BASE_US + 900 * S
    export_batch(lake, [put("a", start + 600 * S, 1)], start=start, end=end, items=1)
    point = start + 200 * S
    exact = snapshot(lake, T, [], start_us=point, end_us=point, kind="exact")
    assert coverage(lake, T).intervals == (Interval(point, point, exact),
                                           Interval(start + 600 * S, end - 1, exact))


def test_the_stretch_from_a_scan_to_a_later_log_is_a_gap(tmp_path: Path) -> None:
    lake = LocalFileIO(tmp_path)
    sid = snapshot(lake, T, [], start_us=BASE_US, end_us=BASE_US + 10 * S)
    batch(lake, T, [], from_us=BASE_US + 60 * S, to_us=BASE_US + 90 * S)
    cov = coverage(lake, T)
    assert [(g.start_us, g.end_us, g.reason) for g in cov.gaps] == [
        (BASE_US + 10 * S + 1, BASE_US + 60 * S - 1,
         f"no change log from snapshot {sid} to the start of the change log")]
    assert cov.intervals == ()
