"""The only code that builds lake keys.

::

    <table>/snapshots/<snapshot-id>/data/part-<segment>-<seq>.parquet   immutable, first
    <table>/snapshots/<snapshot-id>/manifest.json                       last = the commit
    <table>/changes/<yyyy>/<mm>/<dd>/<batch-id>-<n>.parquet
    <table>/changes/_manifests/<batch-id>.json
    <table>/state/<name>                                                checkpoints, journals
    <table>/iceberg/{items,changes}/metadata/...                        derived Iceberg metadata

Keys are relative to the lake root and use ``/``. Snapshot and batch ids sort by time.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

MANIFEST = "manifest.json"
_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{8}")


def check_table_name(table: str) -> str:
    from schemas.errors import UsageError

    if not _TABLE.fullmatch(table):
        raise UsageError(f"{table!r} is not a DynamoDB table name",
                         hint="table names are 3-255 characters of A-Z a-z 0-9 _ . -")
    return table


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
    return bool(_ID.fullmatch(text))


def id_time(identifier: str) -> datetime:
    return datetime.strptime(identifier[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def table_prefix(table: str) -> str:
    return f"{table}/"


def snapshots_prefix(table: str) -> str:
    return f"{table}/snapshots/"


def snapshot_dir(table: str, snapshot_id: str) -> str:
    return f"{table}/snapshots/{snapshot_id}/"


def snapshot_manifest(table: str, snapshot_id: str) -> str:
    return f"{snapshot_dir(table, snapshot_id)}{MANIFEST}"


def part_name(segment: int, seq: int) -> str:
    """Relative to the snapshot folder; deterministic so a resumed export reuses names."""
    return f"data/part-{segment:05d}-{seq:05d}.parquet"


def snapshot_part(table: str, snapshot_id: str, relative: str) -> str:
    return f"{snapshot_dir(table, snapshot_id)}{relative}"


def changes_prefix(table: str) -> str:
    return f"{table}/changes/"


def change_manifests_prefix(table: str) -> str:
    return f"{table}/changes/_manifests/"


def change_manifest(table: str, batch_id: str) -> str:
    return f"{change_manifests_prefix(table)}{batch_id}.json"


def change_part_name(batch_id: str, seq: int) -> str:
    """Relative to the table folder."""
    when = id_time(batch_id) if is_id(batch_id) else datetime.now(UTC)
    return f"changes/{when:%Y/%m/%d}/{batch_id}-{seq:03d}.parquet"


def table_key(table: str, relative: str) -> str:
    return f"{table}/{relative}"


def state_key(table: str, name: str) -> str:
    return f"{table}/state/{name}"


def restores_prefix(table: str) -> str:
    """Restore journals and dead letters of restores whose source is ``table``."""
    return f"{table}/state/restores/"


def restore_journal(table: str, restore_id: str) -> str:
    return f"{restores_prefix(table)}{restore_id}/journal.json"


def restore_dead_letter(table: str, restore_id: str, unit: int) -> str:
    """Items a restore could not write (JSON lines), one file per unit of work."""
    return f"{restores_prefix(table)}{restore_id}/dead-letter/unit-{unit:05d}.jsonl"


def restore_dead_letter_prefix(table: str, restore_id: str) -> str:
    return f"{restores_prefix(table)}{restore_id}/dead-letter/"


ICEBERG_TABLES = ("items", "changes")


def iceberg_table_prefix(table: str, kind: str) -> str:
    """The folder of one of a table's Iceberg tables (``items`` or ``changes``): Iceberg
    metadata only (``metadata/``); the data files it names are the lake's own parts."""
    if kind not in ICEBERG_TABLES:
        raise ValueError(f"unknown Iceberg table kind {kind!r}")
    return f"{table}/iceberg/{kind}/"
