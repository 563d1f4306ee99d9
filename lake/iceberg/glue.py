"""Register published Iceberg tables in the AWS Glue Data Catalog (for Athena, EMR, Glue).

A Glue table of type ICEBERG points at one metadata file; registering again moves it to the
newest one (Glue's ``previous_metadata_location`` keeps the last). A Glue table of the same
name that is not ddblake's (another location) is left alone with an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pyiceberg.catalog.glue import _construct_table_input

from lake import layout
from lake.aws import error_code, translate
from lake.fileio import FileIO
from lake.iceberg import metadata
from lake.iceberg.tables import Published
from schemas.errors import AlreadyExistsError, UsageError

_GLUE_NAME = re.compile(r"[a-z0-9_]{1,255}")


@dataclass(frozen=True)
class Registered:
    database: str
    name: str
    table: str
    kind: str
    metadata_location: str
    action: str  # created, updated, unchanged


def glue_name(table: str, kind: str) -> str:
    """``orders`` and ``orders_changes`` (lower case; ``-`` and ``.`` become ``_``)."""
    base = re.sub(r"[^a-z0-9_]", "_", table.lower())
    return base if kind == "items" else f"{base}_changes"


def check_database(name: str) -> str:
    if not _GLUE_NAME.fullmatch(name):
        raise UsageError(f"{name!r} is not a Glue database name",
                         hint="use 1-255 lower-case letters, digits and _")
    return name


def _ensure_database(glue: Any, database: str) -> None:
    from botocore.exceptions import ClientError

    try:
        glue.create_database(DatabaseInput={"Name": database,
                                            "Description": "ddblake lake (Iceberg tables)"})
    except ClientError as e:
        if error_code(e) != "AlreadyExistsException":
            raise translate(e, action="create Glue database", resource=database) from e


def _existing(glue: Any, database: str, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return dict(glue.get_table(DatabaseName=database, Name=name)["Table"])
    except ClientError as e:
        if error_code(e) == "EntityNotFoundException":
            return None
        raise translate(e, action="read Glue table", resource=f"{database}.{name}") from e


def register_one(glue: Any, io: FileIO, database: str, published: Published) -> Registered:
    name = glue_name(published.table, published.kind)
    version = metadata.load(io, layout.iceberg_table_prefix(published.table, published.kind))
    if version is None:
        raise UsageError(f"{published.table} has no Iceberg {published.kind} table yet",
                         hint="run `ddblake iceberg` without --dry-run first")
    existing = _existing(glue, database, name)
    previous = (existing or {}).get("Parameters", {}).get("metadata_location")
    if existing is not None and not str(previous or "").startswith(published.location + "/"):
        raise AlreadyExistsError(
            f"Glue table {database}.{name} exists and is not this lake's ({previous})",
            hint="register into another database, or drop that table first")
    if previous == version.location:
        return Registered(database, name, published.table, published.kind, previous,
                          "unchanged")
    table_input = _construct_table_input(name, version.location, {}, version.metadata,
                                         existing, previous)
    _put(glue, database, table_input, existing)
    return Registered(database, name, published.table, published.kind, version.location,
                      "created" if existing is None else "updated")


def _put(glue: Any, database: str, table_input: Any, existing: dict[str, Any] | None) -> None:
    from botocore.exceptions import ClientError

    try:
        if existing is None:
            glue.create_table(DatabaseName=database, TableInput=table_input)
        else:
            glue.update_table(DatabaseName=database, TableInput=table_input,
                              VersionId=existing.get("VersionId", "0"))
    except ClientError as e:
        raise translate(e, action="register Glue table",
                        resource=f"{database}.{table_input['Name']}") from e


def register_glue(glue: Any, io: FileIO, database: str,
                  published: list[Published]) -> list[Registered]:
    """Create or update a Glue table for every published (non-empty) Iceberg table."""
    check_database(database)
    _ensure_database(glue, database)
    return [register_one(glue, io, database, p) for p in published
            if p.metadata_location is not None]
