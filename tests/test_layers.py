"""Every import points down: ddblake -> restorer -> exporter -> queries -> lake -> schemas."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["schemas", "lake", "queries", "exporter", "restorer", "ddblake"]
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
