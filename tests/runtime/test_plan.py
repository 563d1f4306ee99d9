"""Planning units (heaviest files first, no idle processes), and workers that see the
environment of each run."""

from __future__ import annotations

import os

import pytest

from runtime.executor import Kit, plan
from runtime.local import LocalExecutor


def test_heaviest_first_and_one_worker_per_file_with_items() -> None:
    sizes = {"a": 10, "b": 0, "c": 500, "d": 0, "e": 70}
    ordered, workers = plan(list(sizes), sizes.__getitem__, 8)
    assert ordered == ["c", "e", "a", "b", "d"]
    assert workers == 3  # the two empty partitions do not get a process


def test_never_more_than_asked_and_never_none() -> None:
    assert plan([5, 5, 5, 5], lambda n: n, 2)[1] == 2
    assert plan([0, 0], lambda n: n, 4) == ([0, 0], 1)  # only empty files: in this process
    assert plan([], lambda n: n, 4) == ([], 1)
    assert plan([9, 0, 0], lambda n: n, 4)[1] == 1  # one file with items: no pool at all


def environment_variable(name: str, kit: Kit) -> str | None:
    return os.environ.get(name)


def test_workers_see_the_environment_of_each_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers fork from a long-lived server; they must still see what is set now (an
    endpoint, a profile), as spawned workers did."""
    for value in ("one", "two"):
        monkeypatch.setenv("DDBLAKE_POOL_MARK", value)
        seen = LocalExecutor(2).map(environment_variable, ["DDBLAKE_POOL_MARK"] * 3)
        assert set(seen) == {value}
    monkeypatch.delenv("DDBLAKE_POOL_MARK")
    assert set(LocalExecutor(2).map(environment_variable, ["DDBLAKE_POOL_MARK"] * 2)) == {None}
