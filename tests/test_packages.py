"""Each top-level package imports from this checkout (not from some other installation)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["schemas", "lake", "exporter", "queries", "restorer", "ddblake"])
def test_package_imports_from_checkout(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().parent == ROOT / name


def test_schemas_imports_nothing_of_ours() -> None:
    ours = {"lake", "exporter", "queries", "restorer", "ddblake"}
    for path in (ROOT / "schemas").glob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                assert words[1].split(".")[0] not in ours, f"{path.name}: {line}"


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """A package missing from pyproject's explicit list is missing from the wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {str(p.parent.relative_to(ROOT)).replace("/", ".")
             for p in ROOT.glob("*/**/__init__.py")
             if p.parts[len(ROOT.parts)] not in {"tests", "bench", "build"}
             and not p.parts[len(ROOT.parts)].startswith(".")}  # .venv and its copies
    assert found == listed
