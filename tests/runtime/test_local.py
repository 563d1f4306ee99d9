"""The local-process executor's policy, with real worker processes: errors with their class
and hint, the first error stopping the others, bounded work in flight, a lost worker,
progress, and one budget shared by every worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.capacity import Budgets
from runtime.executor import SerialExecutor, WorkerLost, make_executor
from runtime.local import LocalExecutor
from schemas.errors import CorruptDataError
from tests.runtime import units


def test_results_and_progress_from_workers() -> None:
    seen: list[tuple[int, int]] = []
    executor = LocalExecutor(2)
    got = sorted(executor.map(units.square, range(6), progress=lambda i, b: seen.append((i, b))))
    assert got == [0, 1, 4, 9, 16, 25]
    assert sum(i for i, _ in seen) == 6 and sum(b for _, b in seen) == 15
    assert sum(executor.nodes.values()) == 6


def test_serial_executor_runs_in_this_process() -> None:
    seen: list[int] = []
    got = list(SerialExecutor().map(units.square, [3, 4], progress=lambda i, b: seen.append(b)))
    assert got == [9, 16] and seen == [3, 4]


def test_first_error_keeps_class_and_hint_and_stops_the_others(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(CorruptDataError) as e:
        list(LocalExecutor(2).map(units.fail_or_wait,
                                  [("wait", str(tmp_path)), ("fail", "")]))
    assert e.value.hint == "run ddblake verify --deep" and e.value.exit_code == 4
    assert time.monotonic() - started < 20  # the waiting unit did not run to its deadline
    assert len(list(tmp_path.glob("stopped-*"))) == 1


def test_tasks_are_drawn_lazily_with_a_bound() -> None:
    drawn: list[int] = []

    def tasks() -> Iterator[int]:
        for n in range(40):
            drawn.append(n)
            yield n

    results = LocalExecutor(2).map(units.square, tasks())
    next(results)
    assert len(drawn) <= 2 * 2 + 1  # in flight, plus the one drawn to refill
    assert len(list(results)) == 39


def test_a_killed_worker_is_reported() -> None:
    with pytest.raises(WorkerLost, match="worker process died"):
        list(LocalExecutor(2).map(units.die, [1, 2]))


def overshoot(times: list[float], rate: float) -> float:
    """The most units taken in any window between two takes, beyond ``rate * window``."""
    times = sorted(times)
    return max(j - i + 1 - rate * (times[j] - times[i])
               for i in range(len(times)) for j in range(i, len(times)))


def test_one_budget_holds_across_workers(tmp_path: Path) -> None:
    spent = list(LocalExecutor(2).map(units.spend_writes, [(30, str(tmp_path), 2)] * 2,
                                      budgets=Budgets(write=20.0)))
    times = [t for unit in spent for t in unit]
    assert len(times) == 60 and overshoot(times, 20.0) <= 20.0 + 1  # the burst, one request
    assert max(times) - min(times) >= (60 - 20 - 1) / 20 - 0.05
    # and the check can fail: two buckets at the full rate would let 60 through in 0.5 s
    assert overshoot([n / 120 for n in range(60)], 20.0) > 20.0 + 1


def test_engine_choice() -> None:
    assert make_executor("local", 1).engine == "serial"
    assert make_executor("local", 3).workers == 3
    with pytest.raises(Exception, match="unknown engine"):
        make_executor("spark", 2)


def test_dask_engine_without_dask_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import runtime.dask_engine as dask_engine
    from runtime.executor import EngineUnavailable

    monkeypatch.setattr(dask_engine, "distributed", None)
    with pytest.raises(EngineUnavailable) as e:
        make_executor("dask", 2)
    assert e.value.exit_code == 2 and "pip install dask distributed" in (e.value.hint or "")


CTRL_C = """
import sys
from runtime.local import LocalExecutor
from tests.runtime import units
if __name__ == "__main__":
    try:
        list(LocalExecutor(2).map(units.fail_or_wait, [("wait", sys.argv[1])] * 2))
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(3)
"""


def test_ctrl_c_stops_every_worker_at_a_safe_point(tmp_path: Path) -> None:
    """SIGINT to the whole foreground group (what Ctrl-C does): workers ignore it, the
    driver sets the stop flag, each running unit ends at its next check, the driver exits."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C, str(tmp_path)], env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("started-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(30) == 130
    assert len(list(tmp_path.glob("stopped-*"))) == 2


def test_ray_engine_without_ray_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import runtime.ray_engine as ray_engine
    from runtime.executor import EngineUnavailable

    monkeypatch.setattr(ray_engine, "ray", None)
    with pytest.raises(EngineUnavailable) as e:
        make_executor("ray", None)
    assert e.value.exit_code == 2 and "ddblake[ray]" in (e.value.hint or "")


def test_cli_engine_ray_without_ray_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import runtime.ray_engine as ray_engine
    from tests.helpers import run_cli

    monkeypatch.setattr(ray_engine, "ray", None)
    (tmp_path / "lake").mkdir()
    code, _out, err = run_cli(capsys, "verify", "--all", "--deep", "--lake",
                              str(tmp_path / "lake"), "--engine", "ray")
    assert code == 2 and "pip install 'ddblake[ray]'" in err


def test_ray_workers_take_the_settings_of_each_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS settings travel with the units (never credentials), and a setting of an earlier
    run does not stay behind on a worker that served it."""
    import runtime.leases as leases
    from runtime.leases import adopt_settings, forwarded_environ

    monkeypatch.setattr(leases, "_NODE_SETTINGS", [])
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-workers")
    monkeypatch.setenv("AWS_PROFILE", "laptop")
    sent = forwarded_environ()
    assert sent["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:9" and sent["AWS_REGION"]
    assert "AWS_SECRET_ACCESS_KEY" not in sent and "AWS_PROFILE" not in sent
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # the "node's" own setting
    adopt_settings({"AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    adopt_settings({})
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert os.environ["AWS_REGION"] == "eu-west-1"
