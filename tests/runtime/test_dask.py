"""The Dask adapter of the executor interface on a LocalCluster of 2 worker processes:
results and progress from both, errors with their class and hint, the stop flag reaching a
running unit, a worker killed in a unit retried, and one budget held across the workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.capacity import Budgets
from schemas.errors import CorruptDataError
from tests.runtime import units
from tests.runtime.test_local import overshoot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dask_executor() -> Iterator[object]:
    pytest.importorskip("distributed")
    from runtime.executor import make_executor

    executor = make_executor("dask", 2)
    assert executor.engine == "dask" and executor.workers == 2
    yield executor
    executor.close()  # type: ignore[attr-defined]


def test_units_run_on_both_workers(dask_executor: object) -> None:
    seen: list[int] = []
    got = sorted(dask_executor.map(units.square_slowly, range(8),  # type: ignore[attr-defined]
                                   progress=lambda i, b: seen.append(b)))
    assert got == [n * n for n in range(8)] and sorted(seen) == list(range(8))
    nodes = dask_executor.nodes  # type: ignore[attr-defined]
    assert len(nodes) == 2 and sum(nodes.values()) == 8, nodes


def test_errors_keep_class_and_hint_and_stop_the_others(dask_executor: object,
                                                         tmp_path: Path) -> None:
    with pytest.raises(CorruptDataError) as e:
        list(dask_executor.map(units.fail_or_wait,  # type: ignore[attr-defined]
                               [("wait", str(tmp_path)), ("fail", "")]))
    assert e.value.hint == "run ddblake verify --deep"
    deadline = time.monotonic() + 20
    while not list(tmp_path.glob("stopped-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob("started-*")) and list(tmp_path.glob("stopped-*"))


def test_a_worker_killed_in_a_unit_is_retried(dask_executor: object, tmp_path: Path) -> None:
    got = sorted(dask_executor.map(units.die_once,  # type: ignore[attr-defined]
                                   [(n, str(tmp_path)) for n in range(3)]))
    assert [value for value, _ in got] == [0, 1, 4]
    for n, (_, pid) in enumerate(got):  # each first attempt died; another process finished
        assert int((tmp_path / f"attempt-{n}").read_text()) != pid


def test_one_budget_holds_across_the_workers(dask_executor: object, tmp_path: Path) -> None:
    from runtime.leases import LEASE_S

    spent = list(dask_executor.map(units.spend_writes,  # type: ignore[attr-defined]
                                   [(30, str(tmp_path), 2)] * 2, budgets=Budgets(write=20.0)))
    times = [t for unit in spent for t in unit]
    assert len(times) == 60 and overshoot(times, 20.0) <= 20.0 + 20.0 * LEASE_S + 1, \
        overshoot(times, 20.0)
    assert max(times) - min(times) >= (60 - 20 - 1) / 20 - 0.15
