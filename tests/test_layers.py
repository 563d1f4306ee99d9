"""Every import points down: ddblake -> restorer -> exporter -> queries -> lake -> runtime ->
schemas; and only the runtime layer starts processes or pools of threads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["schemas", "runtime", "lake", "queries", "exporter", "restorer", "ddblake"]
# How work runs (processes, pools, Ray) is the runtime layer's alone.
PROCESS_MODULES = {"multiprocessing", "concurrent", "ray", "subprocess"}
# exporter and queries are siblings: neither may import the other.
SIBLINGS = {("exporter", "queries"), ("queries", "exporter")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", ORDER)
def test_imports_point_down(package: str) -> None:
    allowed = set(ORDER[: ORDER.index(package) + 1])
    for path in (ROOT / package).rglob("*.py"):
        for name in _imports(path) & set(ORDER):
            assert name in allowed and (package, name) not in SIBLINGS, (
                f"{path.relative_to(ROOT)} imports {name}")


@pytest.mark.parametrize("package", [p for p in ORDER if p not in ("runtime", "ddblake")])
def test_only_the_runtime_runs_processes(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        found = _imports(path) & PROCESS_MODULES
        assert not found, f"{path.relative_to(ROOT)} imports {found}: use runtime/"


def test_the_runtime_imports_only_schemas() -> None:
    for path in (ROOT / "runtime").rglob("*.py"):
        ours = _imports(path) & set(ORDER)
        assert ours <= {"schemas", "runtime"}, f"{path.relative_to(ROOT)} imports {ours}"
