"""The only code that builds lake keys.

::

    <table>/snapshots/<snapshot-id>/data/part-<segment>-<seq>.parquet   immutable, first
    <table>/snapshots/<snapshot-id>/manifest.json                       last = the commit
    <table>/changes/<yyyy>/<mm>/<dd>/<batch-id>-<n>.parquet
    <table>/changes/_manifests/<batch-id>.json
    <table>/schema/<n>.json                                             table schemas (format 2)
    <table>/state/<name>                                                checkpoints, journals
    <table>/iceberg/{items,changes}/metadata/...                        derived Iceberg metadata

Keys are relative to the lake root and use ``/``. Snapshot and batch ids sort by time.

Every builder checks the names it is given (``schemas.names``): a table name, an id of the
right shape, a relative path inside its folder. A name that is not one raises
UnsafeNameError (exit 4) instead of becoming a key, so no name (from a user, a listing or a
manifest someone else wrote) can address a key outside the lake or outside its place in it.
User input is checked earlier, with a usage error (:func:`check_table_name`).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from schemas import names
from schemas.errors import UnsafeNameError, UsageError

MANIFEST = "manifest.json"
SNAPSHOT_DATA = "data"
CHANGES = "changes"
TABLE_SCHEMAS = "schema"


def check_table_name(table: str) -> str:
    """A table name a user gave: UsageError (exit 2) when it is not a DynamoDB table name."""
    if not names.is_table_name(table):
        raise UsageError(f"{table!r} is not a DynamoDB table name",
                         hint="table names are 3-255 characters of A-Z a-z 0-9 _ . -")
    return table


def _t(table: str) -> str:
    return names.table_name(table)


def _id(identifier: str, what: str) -> str:
    return names.lake_id(identifier, what=what)


def new_id(now: datetime | None = None) -> str:
    """A time-sortable, collision-free id: ``20261122T130501Z-0a2b3c4d``. The first five hex
    digits are the microseconds, so ids made within one second sort in the order they were
    made too ("latest" and retention go by id order); three random hex digits follow (a
    collision also needs the same microsecond, and commits are create-if-absent anyway)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{now.microsecond:05x}{secrets.token_hex(2)[:3]}"


def derived_id(when: datetime, *parts: str) -> str:
    """A deterministic id in the same format: the same ``when`` and ``parts`` give the same id
    (a retried Lambda invocation or a replayed stream batch commits under the same name)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:8]
    return f"{when.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"


def is_id(text: str) -> bool:
    return names.is_lake_id(text)


def is_table_name(text: str) -> bool:
    return names.is_table_name(text)


def id_time(identifier: str) -> datetime:
    return datetime.strptime(identifier[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def table_prefix(table: str) -> str:
    return f"{_t(table)}/"


def snapshots_prefix(table: str) -> str:
    return f"{_t(table)}/snapshots/"


def snapshot_dir(table: str, snapshot_id: str) -> str:
    return f"{_t(table)}/snapshots/{_id(snapshot_id, 'snapshot id')}/"


def snapshot_manifest(table: str, snapshot_id: str) -> str:
    return f"{snapshot_dir(table, snapshot_id)}{MANIFEST}"


def part_name(segment: int, seq: int) -> str:
    """Relative to the snapshot folder; deterministic so a resumed export reuses names."""
    return f"{SNAPSHOT_DATA}/part-{int(segment):05d}-{int(seq):05d}.parquet"


def snapshot_part(table: str, snapshot_id: str, relative: str) -> str:
    """The key of a part recorded as ``relative`` (inside the snapshot's ``data/``)."""
    path = names.relative_path(relative, under=SNAPSHOT_DATA, what="snapshot part path")
    return f"{snapshot_dir(table, snapshot_id)}{path}"


def changes_prefix(table: str) -> str:
    return f"{_t(table)}/{CHANGES}/"


def change_manifests_prefix(table: str) -> str:
    return f"{_t(table)}/{CHANGES}/_manifests/"


def change_manifest(table: str, batch_id: str) -> str:
    return f"{change_manifests_prefix(table)}{_id(batch_id, 'batch id')}.json"


def change_part_name(batch_id: str, seq: int) -> str:
    """Relative to the table folder."""
    when = id_time(_id(batch_id, "batch id"))
    return f"{CHANGES}/{when:%Y/%m/%d}/{batch_id}-{int(seq):03d}.parquet"


def change_part(table: str, relative: str) -> str:
    """The key of a change part recorded as ``relative`` (inside the table's ``changes/``,
    never in ``changes/_manifests/``)."""
    path = names.relative_path(relative, under=CHANGES, what="change part path")
    if path.startswith(f"{CHANGES}/_manifests/"):
        raise UnsafeNameError(f"change part path {relative!r} is inside changes/_manifests/",
                              hint="a hostile or damaged change batch manifest; do not use it")
    return f"{_t(table)}/{path}"


def table_key(table: str, relative: str) -> str:
    """A change part's key (the only relative paths recorded against a table folder)."""
    return change_part(table, relative)


def table_schemas_prefix(table: str) -> str:
    """``<table>/schema/``: the table's format 2 schemas (``lake.table_schemas``)."""
    return f"{_t(table)}/{TABLE_SCHEMAS}/"


def table_schema(table: str, schema_id: int) -> str:
    """``<table>/schema/<n>.json`` (``n`` zero-padded to 8 digits, from 1)."""
    if not 0 < int(schema_id) < 10**8:
        raise UnsafeNameError(f"schema id {schema_id!r} is not 1-99999999",
                              hint="a hostile or damaged lake document; do not use it")
    return f"{table_schemas_prefix(table)}{int(schema_id):08d}.json"


def state_key(table: str, name: str) -> str:
    """``<table>/state/<name>``; ``name`` is a relative path (a trailing ``/`` makes a
    prefix) made by ddblake's own code, checked all the same."""
    body = name.removesuffix("/")
    if body and names.segments(body) is None:
        raise UnsafeNameError(f"state name {name!r} is not a safe relative path",
                              hint="a bug or a hostile lake document; nothing was touched")
    return f"{_t(table)}/state/{name}"


def restores_prefix(table: str) -> str:
    """Restore journals and dead letters of restores whose source is ``table``."""
    return state_key(table, "restores/")


def restore_journal(table: str, restore_id: str) -> str:
    return f"{restores_prefix(table)}{_id(restore_id, 'restore id')}/journal.json"


def restore_dead_letter(table: str, restore_id: str, unit: int) -> str:
    """Items a restore could not write (JSON lines), one file per unit of work."""
    return (f"{restores_prefix(table)}{_id(restore_id, 'restore id')}/dead-letter/"
            f"unit-{int(unit):05d}.jsonl")


def restore_dead_letter_prefix(table: str, restore_id: str) -> str:
    return f"{restores_prefix(table)}{_id(restore_id, 'restore id')}/dead-letter/"


ICEBERG_TABLES = ("items", "changes")


def iceberg_table_prefix(table: str, kind: str) -> str:
    """The folder of one of a table's Iceberg tables (``items`` or ``changes``): Iceberg
    metadata only (``metadata/``); the data files it names are the lake's own parts."""
    if kind not in ICEBERG_TABLES:
        raise ValueError(f"unknown Iceberg table kind {kind!r}")
    return f"{_t(table)}/iceberg/{kind}/"
