"""Whose is an item that is already there? Exact counts for ``put-if-absent``.

A conditional put that finds its key taken may meet an item that existed before the restore
(``skipped_existing``), one that an earlier run of the same restore wrote before it died
(``already_written``), or this run's own item whose PutItem succeeded while its response was
lost (botocore sent it again: ``written``). Only the first is "skipped"; the content cannot
tell them apart, so each unit is *probed* before its first item is sent:

- the first run to start a unit records which of its keys the target holds at that moment
  (``probes/unit-NNNNN.json`` next to the journal, written before any put of the unit; a
  table the restore created held none, so nothing is read);
- a later run of the same restore reads that record and probes again: keys present now and
  not then were written by earlier runs.

Whatever else fails its condition was written by this run. (A program outside the restore
creating the same key while the unit runs is counted as written too: nothing can tell it
from a lost response.)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from lake import layout
from lake.aws import translate
from lake.fileio import FileIO
from restorer.config import RestoreConfig
from restorer.spool import read_unit
from restorer.transport import access_error
from restorer.writer import key_tuple
from schemas.dynamo_json import Item, from_client, to_client
from schemas.errors import ManifestError, RetriesExceeded
from schemas.keys import KeySchema

Key = tuple[str, ...]
Origin = Literal["before", "earlier", "this-run"]
GET_BATCH = 100


class UnitJob(Protocol):
    """What a unit of work knows (:class:`restorer.units.UnitContext` has it)."""

    @property
    def config(self) -> RestoreConfig: ...

    @property
    def source_table(self) -> str: ...

    @property
    def restore_id(self) -> str: ...

    @property
    def keys(self) -> dict[str, Any]: ...

    def spool_path(self, unit: int) -> Path: ...


@dataclass(frozen=True)
class KeyOrigins:
    """Keys of one unit that were in the target before the restore, or that earlier runs
    of it wrote."""

    before_job: frozenset[Key]
    earlier_runs: frozenset[Key]

    def of(self, key: Key) -> Origin:
        if key in self.before_job:
            return "before"
        return "earlier" if key in self.earlier_runs else "this-run"


def probe_key(source_table: str, restore_id: str, unit: int) -> str:
    return f"{layout.restores_prefix(source_table)}{restore_id}/probes/unit-{unit:05d}.json"


def unit_origins(job: UnitJob, unit: int, *, client: Any, io: FileIO,
                 sleep: Callable[[float], None] = time.sleep) -> KeyOrigins | None:
    """The origins of the unit's keys (None unless the mode is put-if-absent)."""
    config = job.config
    if config.mode != "put-if-absent":
        return None
    keys = KeySchema.from_dict(job.keys)
    wanted = _unit_keys(job.spool_path(unit), keys)
    record = probe_key(job.source_table, job.restore_id, unit)
    if io.exists(record):
        before = _parse_record(io.read(record), io.full_uri(record))
        present = present_keys(client, config.target, keys, wanted, sleep=sleep)
        return KeyOrigins(before, frozenset(present - before))
    before = frozenset(present_keys(client, config.target, keys, wanted, sleep=sleep)
                       if config.existing else ())  # a table the restore created held none
    io.write(record, orjson.dumps({"before_job": sorted(before)}))
    return KeyOrigins(before, frozenset())


def _unit_keys(path: Path, keys: KeySchema) -> dict[Key, Item]:
    """Each key of the unit (by :func:`key_tuple`) with its wire form."""
    found: dict[Key, Item] = {}
    for text in read_unit(path):
        item = orjson.loads(text)
        try:
            wire = {a.name: item[a.name] for a in keys.attributes}
            found[key_tuple(wire, keys)] = wire
        except (KeyError, TypeError, AttributeError, ValueError):
            continue  # an invalid item: the writer makes it a dead letter
    return found


def _parse_record(data: bytes, what: str) -> frozenset[Key]:
    try:
        return frozenset(tuple(str(v) for v in key) for key in orjson.loads(data)["before_job"])
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise ManifestError(f"{what} is not a readable probe record: {e}",
                            hint="start a new restore (leave out --resume)") from e


def present_keys(client: Any, table: str, keys: KeySchema, wanted: dict[Key, Item], *,
                 sleep: Callable[[float], None] = time.sleep) -> set[Key]:
    """Which of ``wanted`` the table holds (strongly consistent BatchGetItem, keys only)."""
    names = {f"#k{i}": a.name for i, a in enumerate(keys.attributes)}
    present: set[Key] = set()
    chunk: list[Item] = []
    for wire in wanted.values():
        chunk.append(wire)
        if len(chunk) == GET_BATCH:
            present |= _get(client, table, keys, chunk, names, sleep)
            chunk = []
    if chunk:
        present |= _get(client, table, keys, chunk, names, sleep)
    return present


def _get(client: Any, table: str, keys: KeySchema, chunk: Iterable[Item],
         names: dict[str, str], sleep: Callable[[float], None]) -> set[Key]:
    request: dict[str, Any] = {table: {
        "Keys": [to_client(k) for k in chunk], "ConsistentRead": True,
        "ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}}
    found: set[Key] = set()
    for attempt in range(12):
        try:
            response = client.batch_get_item(RequestItems=request)
        except ClientError as e:
            raise access_error(e, table, doing="read which items already exist in") from e
        except BotoCoreError as e:
            raise translate(e, action="read which items already exist in",
                            resource=f"table {table}") from e
        found |= {key_tuple(from_client(i), keys)
                  for i in response.get("Responses", {}).get(table, [])}
        request = response.get("UnprocessedKeys") or {}
        if not request:
            return found
        sleep(random.uniform(0, min(5.0, 0.05 * 2 ** attempt)))
    raise RetriesExceeded(f"could not read which items already exist in table {table}",
                          hint="lower --workers/--threads or raise the table's read capacity, "
                               "then re-run with --resume")
