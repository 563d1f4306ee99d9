"""The Ray executor on a 2-node cluster on this machine: results from both nodes, errors
with their class and hint, a worker killed in the middle of a unit retried, and one budget
held across both nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.capacity import Budgets
from schemas.errors import CorruptDataError
from tests.runtime import units
from tests.runtime.test_local import overshoot

pytestmark = pytest.mark.slow


@pytest.fixture
def ray_executor(ray_cluster: object) -> object:
    from runtime.ray_engine import RayExecutor

    executor = RayExecutor()
    assert executor.how == "connected" and executor.workers == 2
    return executor


def test_units_run_on_both_nodes(ray_executor: object) -> None:
    seen: list[int] = []
    got = sorted(ray_executor.map(units.square_slowly, range(8),  # type: ignore[attr-defined]
                                  progress=lambda i, b: seen.append(b)))
    assert got == [n * n for n in range(8)] and sorted(seen) == list(range(8))
    nodes = ray_executor.nodes  # type: ignore[attr-defined]
    assert len(nodes) == 2 and sum(nodes.values()) == 8, nodes


def test_errors_keep_class_and_hint(ray_executor: object, tmp_path: Path) -> None:
    with pytest.raises(CorruptDataError) as e:
        list(ray_executor.map(units.fail_or_wait,  # type: ignore[attr-defined]
                              [("fail", ""), ("fail", "")]))
    assert e.value.hint == "run ddblake verify --deep"


def test_a_worker_killed_in_a_unit_is_retried(ray_executor: object, tmp_path: Path) -> None:
    got = sorted(ray_executor.map(units.die_once,  # type: ignore[attr-defined]
                                  [(n, str(tmp_path)) for n in range(3)]))
    assert [value for value, _ in got] == [0, 1, 4]
    for n, (_, pid) in enumerate(got):  # each first attempt died; another process finished
        assert int((tmp_path / f"attempt-{n}").read_text()) != pid


def test_one_budget_holds_across_both_nodes(ray_executor: object, tmp_path: Path) -> None:
    from runtime.leases import LEASE_S

    spent = list(ray_executor.map(units.spend_writes,  # type: ignore[attr-defined]
                                  [(30, str(tmp_path), 2)] * 2, budgets=Budgets(write=20.0)))
    times = [t for unit in spent for t in unit]
    # the burst, and one lease slice (0.1 s of the rate) granted on a balance just above 0
    assert len(times) == 60 and overshoot(times, 20.0) <= 20.0 + 20.0 * LEASE_S + 1, \
        overshoot(times, 20.0)
    # Workers stamp a spend after the actor's reply, so the first stamp comes one lease round
    # trip after the bucket's first grant (up to ~0.1 s on a loaded 2-core machine); without
    # the budget the 60 spends take a few milliseconds.
    assert max(times) - min(times) >= (60 - 20 - 1) / 20 - 0.15
    assert len(ray_executor.nodes) == 2  # type: ignore[attr-defined]
