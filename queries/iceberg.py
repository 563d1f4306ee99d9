"""DuckDB over the lake's Iceberg tables (``iceberg_scan`` of a metadata location).

The ``iceberg`` extension and the ``avro`` extension it needs come from the pinned
``duckdb-extension-iceberg`` and ``duckdb-extension-avro`` PyPI packages (same version as
duckdb), loaded from the packages' files: no network download, as with httpfs
(:mod:`queries.access`). S3 lakes also get httpfs and the lake's credentials.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from pathlib import Path

import duckdb

from lake.fileio import FileIO
from queries.access import lake_access
from queries.sqltext import literal
from schemas.errors import UsageError

EXTENSIONS = ("avro", "iceberg")  # avro first: iceberg loads it on start


@cache
def extension_path(name: str) -> str:
    """The extension file shipped by ``duckdb-extension-<name>`` for this duckdb."""
    try:
        package = import_module(f"duckdb_extension_{name}")
    except ImportError as e:
        raise UsageError(f"DuckDB's {name} extension is not installed",
                         hint=f"pip install duckdb-extension-{name}=={duckdb.__version__}") from e
    path = Path(str(package.__file__)).parent / "extensions" / f"v{duckdb.__version__}" / \
        f"{name}.duckdb_extension"
    if not path.is_file():
        raise UsageError(f"duckdb-extension-{name} has no build for duckdb {duckdb.__version__}",
                         hint=f"pip install duckdb-extension-{name}=={duckdb.__version__}")
    return str(path)


def setup_statements(io: FileIO | None = None) -> list[str]:
    """``LOAD`` statements (and the S3 secret for an S3 lake) for plain DuckDB."""
    statements = [f"LOAD {literal(extension_path(name))}" for name in EXTENSIONS]
    if io is not None:
        statements += lake_access(io).setup
    return statements


def connect(io: FileIO | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads Iceberg tables of ``io``'s lake, without network
    installs (``autoinstall_known_extensions`` off)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    for statement in setup_statements(io):
        con.execute(statement)
    return con
