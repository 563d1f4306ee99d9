"""A 2-node Ray cluster on this machine for the tests (``ray.cluster_utils.Cluster``): one CPU
per node, every address on 127.0.0.1, the tests' own AWS settings (no real credentials)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_cluster(tmp: Path) -> Iterator[object]:
    pytest.importorskip("ray")
    import ray
    from ray.cluster_utils import Cluster

    from runtime.ray_engine import loopback_only

    with pytest.MonkeyPatch.context() as mp:  # what the raylets (and so workers) inherit
        for name in list(os.environ):
            if name.startswith("AWS_") or name == "RAY_ADDRESS":
                mp.delenv(name)
        mp.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        loopback_only()  # every address on 127.0.0.1
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_CONFIG_FILE", str(tmp / "config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "credentials"))
        mp.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT),
                                                              os.environ.get("PYTHONPATH"))
                                                if p))
        cluster = Cluster(initialize_head=True,
                          head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1)
        assert cluster.address.startswith("127.0.0.1:"), cluster.address
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def workers_running_units() -> list[int]:
    """The pids of Ray workers running a unit now (their process title), to kill one."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if f.read().startswith(b"ray::_run_unit"):
                        found.append(int(entry))
            except OSError:
                continue
    return found
