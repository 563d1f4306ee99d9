"""lake.coverage: the instants as_of can rebuild exactly, and the gaps."""

from __future__ import annotations

import orjson

from lake import layout
from lake.coverage import Interval, coverage, describe
from lake.fileio import LocalFileIO
from tests.changes.builders import BASE_US, batch, put, snapshot

S = 1_000_000  # one second in µs
T = "orders"


def test_exact_snapshot_extends_to_the_end_of_the_log(lake: LocalFileIO) -> None:
    sid = snapshot(lake, T, [], start_us=BASE_US, end_us=BASE_US, kind="exact")
    batch(lake, T, [put("a", BASE_US + 5 * S, 1)], from_us=BASE_US - 10 * S,
          to_us=BASE_US + 60 * S)
    cov = coverage(lake, T)
    assert cov.intervals == (Interval(BASE_US, BASE_US + 60 * S, sid),)
    assert cov.exact_at(BASE_US + 30 * S) and not cov.exact_at(BASE_US + 61 * S)
    assert not cov.exact_at(BASE_US - 1)
    assert cov.gaps == ()


def test_exact_snapshot_without_log_is_exact_at_its_instant_only(lake: LocalFileIO) -> None:
    sid = snapshot(lake, T, [], start_us=BASE_US, end_us=BASE_US, kind="exact")
    assert coverage(lake, T).intervals == (Interval(BASE_US, BASE_US, sid),)


def test_fuzzy_snapshot_needs_the_log_to_cover_its_window(lake: LocalFileIO) -> None:
    start, end = BASE_US, BASE_US + 20 * S
    sid = snapshot(lake, T, [], start_us=start, end_us=end)
    batch(lake, T, [], from_us=start + 1, to_us=end + 100 * S)  # starts after the scan did
    assert coverage(lake, T).intervals == ()
    batch(lake, T, [], from_us=start - 5 * S, to_us=start + 1)
    assert coverage(lake, T).intervals == (Interval(end, end + 100 * S, sid),)


def test_recorded_gap_cuts_the_log_and_is_listed(lake: LocalFileIO) -> None:
    sid = snapshot(lake, T, [], start_us=BASE_US, end_us=BASE_US + S)
    batch(lake, T, [], from_us=BASE_US - S, to_us=BASE_US + 10 * S)
    gap = {"shard": "s1", "from_us": BASE_US + 10 * S, "to_us": BASE_US + 30 * S,
           "reason": "trimmed"}
    batch(lake, T, [], from_us=BASE_US + 10 * S, to_us=BASE_US + 50 * S, gaps=[gap])
    cov = coverage(lake, T)
    assert cov.intervals == (Interval(BASE_US + S, BASE_US + 10 * S - 1, sid),)
    assert [(g.start_us, g.end_us, g.reason) for g in cov.gaps] == [
        (BASE_US + 10 * S, BASE_US + 30 * S, "trimmed")]
    assert [(i.start_us, i.end_us) for i in cov.log] == [
        (BASE_US - S, BASE_US + 10 * S - 1), (BASE_US + 30 * S + 1, BASE_US + 50 * S)]


def test_hole_between_batches_is_a_gap(lake: LocalFileIO) -> None:
    batch(lake, T, [], from_us=BASE_US, to_us=BASE_US + S)
    batch(lake, T, [], from_us=BASE_US + 5 * S, to_us=BASE_US + 9 * S)
    assert [(g.start_us, g.end_us, g.reason) for g in coverage(lake, T).gaps] == [
        (BASE_US + S + 1, BASE_US + 5 * S - 1, "no change log")]


def test_later_snapshot_takes_over_even_when_it_is_not_exact(lake: LocalFileIO) -> None:
    first = snapshot(lake, T, [], start_us=BASE_US, end_us=BASE_US, kind="exact")
    batch(lake, T, [], from_us=BASE_US, to_us=BASE_US + 100 * S)
    # a fuzzy scan whose window starts before the log does: not exact, yet as_of uses it
    snapshot(lake, T, [], start_us=BASE_US - 50 * S, end_us=BASE_US + 40 * S)
    assert coverage(lake, T).intervals == (Interval(BASE_US, BASE_US + 40 * S - 1, first),)


def test_lambda_batches_of_one_stream_join(lake: LocalFileIO) -> None:
    batch(lake, T, [put("a", BASE_US, 1)], from_us=BASE_US, to_us=BASE_US, kind="lambda")
    batch(lake, T, [put("a", BASE_US + 9 * S, 2)], from_us=BASE_US + 9 * S,
          to_us=BASE_US + 9 * S, kind="lambda")
    assert [(i.start_us, i.end_us) for i in coverage(lake, T).log] == [
        (BASE_US, BASE_US + 9 * S)]


def test_batches_without_coverage_fields_count_for_nothing(lake: LocalFileIO) -> None:
    snapshot(lake, T, [], start_us=BASE_US, end_us=BASE_US + S)
    batch(lake, T, [put("a", BASE_US + 2 * S, 1)], from_us=None, to_us=None, kind="export")
    cov = coverage(lake, T)
    assert cov.intervals == () and cov.log == ()


def test_consumer_checkpoint_moves_coverage_on(lake: LocalFileIO) -> None:
    sid = snapshot(lake, T, [], start_us=BASE_US, end_us=BASE_US, kind="exact")
    batch(lake, T, [], from_us=BASE_US - S, to_us=BASE_US + S)
    state = {"version": 1, "table": T, "stream_arn": "arn:test/stream/x", "shards": {},
             "covered_from_us": BASE_US - S, "covered_to_us": BASE_US + 300 * S,
             "batch_to_us": BASE_US + S, "gaps": [], "pending": None}
    lake.write(layout.state_key(T, "stream/x.json"), orjson.dumps(state))
    cov = coverage(lake, T)
    assert cov.intervals == (Interval(BASE_US, BASE_US + 300 * S, sid),)
    shown = describe(cov)
    assert shown["exact"] == [{"from": "2026-11-22T08:00:00.000+00:00",
                               "to": "2026-11-22T08:05:00.000+00:00", "base": sid}]
