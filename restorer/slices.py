"""Restore units that select their own rows from the lake (no spool on the driver).

The driver plans from manifests alone (:func:`restorer.select.plan_selection`: which parts
the selection reads and how many rows each holds) and cuts the work into :class:`Slice`\\ s.
A unit then fetches and verifies its parts into a private folder (:mod:`lake.verified`),
runs the selection, the keys join and the ``--where`` filter itself (the same two DuckDB
connections as the driver's, :mod:`restorer.select`: the filter text is checked again by
:mod:`queries.predicate` in the unit's own isolated connection; the keys file travels as
Arrow data), keeps its rows in a private file for the writer and deletes everything when it
ends. Only the driver writes the journal.

How the work is cut, and why:

- **a snapshot** holds each key once, so a unit is a group of whole parts of about
  ``unit_rows`` rows (``own parts``): every part is read by one unit, once per pass;
- **as of a time, or a window** replays the change log: every version of a key must meet in
  one unit, and a key's versions lie in any part. A unit reads every part of the selection
  and keeps the rows whose key hashes to it (``units`` buckets), as the driver's spool
  does; each unit therefore reads all parts (cost: ``units`` times the parts' bytes, see
  docs/decisions/006).

Three passes run as units on the engine: **count** (rows, fingerprint, matched keys and a
sample, before any write: a damaged part stops the restore before anything is written),
**write** (:func:`restorer.units.restore_unit`) and **verify** (what the unit meant to write,
minus its dead letters and expired items: a partial digest, or read back by key). A unit
run twice selects the same rows (the parts are checked against their manifests, the plan
is pinned: a unit whose selection would read other parts than planned is refused) and puts
the same items.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from lake import layout
from lake.aws import make_client, make_session
from lake.fileio import FileIO, load_file_io
from restorer.config import RestoreConfig, Verification
from restorer.select import Planned, Query, slice_source
from restorer.spool import fill_unit, read_unit, unit_path
from restorer.verify import expected_digest, verify_by_key
from runtime.executor import Kit
from schemas.dynamo_json import Digest
from schemas.keys import KeySchema

BY_PART = "part"
BY_KEY_HASH = "key-hash"


@dataclass(frozen=True)
class Slice:
    """What unit ``unit`` reads: ``parts`` (lake keys, as planned); unless they are the
    unit's ``own_parts``, only the rows whose key hashes to ``unit`` of ``units``."""

    unit: int
    parts: tuple[str, ...]
    own_parts: bool
    units: int

    @property
    def bucket(self) -> tuple[int, int] | None:
        return None if self.own_parts else (self.unit, self.units)


@dataclass(frozen=True)
class Selecting:
    """The selection a unit applies: the config (its snapshot pinned by the driver), the
    keys file's keys as Arrow data (or None), the TTL attribute when expired items are
    skipped."""

    config: RestoreConfig
    wanted: pa.Table | None
    ttl_attribute: str | None


def part_groups(parts: dict[str, int], unit_rows: int) -> list[tuple[str, ...]]:
    """Whole parts, in key order, grouped into about ``unit_rows`` rows (a bigger part is a
    unit alone); an empty snapshot is one unit with no part."""
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    rows = 0
    for key, count in parts.items():
        if current and rows + count > unit_rows:
            groups.append(tuple(current))
            current, rows = [], 0
        current.append(key)
        rows += count
    return [*groups, tuple(current)] if current or not groups else groups


def plan_slices(planned: Planned, units_by: str, unit_rows: int,
                units: int | None = None) -> list[Slice]:
    """The units of a restore: groups of parts (``BY_PART``) or ``units`` key-hash buckets
    over every part (``BY_KEY_HASH``; by default one per ``unit_rows`` rows the parts
    hold, an upper bound of what the selection keeps)."""
    if units_by == BY_PART:
        groups = part_groups(planned.parts, unit_rows)
        return [Slice(u, group, True, len(groups)) for u, group in enumerate(groups)]
    count = units or max(1, -(-sum(planned.parts.values()) // unit_rows))
    every = tuple(planned.parts)
    return [Slice(u, every, False, count) for u in range(count)]


@contextlib.contextmanager
def sliced_query(io: FileIO, selecting: Selecting, part: Slice) -> Iterator[Query]:
    """The unit's query over its own verified parts (removed when the block ends)."""
    source = slice_source(io, selecting.config, planned=part.parts,
                          only=frozenset(part.parts) if part.own_parts else None)
    with contextlib.closing(source):
        query = Query(source, selecting.config, wanted=selecting.wanted, bucket=part.bucket)
        with contextlib.closing(query):
            yield query


def select_rows(io: FileIO, selecting: Selecting, part: Slice, folder: Path) -> Path:
    """Select the unit's rows into its file in ``folder`` (the spool's unit format)."""
    path = unit_path(folder, part.unit)
    with sliced_query(io, selecting, part) as query:
        fill_unit(query, path, ttl_attribute=selecting.ttl_attribute)
    return path


@dataclass(frozen=True)
class Counted:
    """A unit's share of the selection: rows, the sum of their ``hash(_item)`` (the
    fingerprint's share), keys of the keys file matched, and a few sample items."""

    unit: int
    rows: int
    hash_sum: int
    keys_matched: int
    sample: tuple[str, ...]


@dataclass(frozen=True)
class SliceTask:
    selecting: Selecting
    slice: Slice
    sample: int = 0
    verify: Any = None  # a VerifyJob for the verify pass


def _lake(task: SliceTask, kit: Kit) -> FileIO:
    config = task.selecting.config
    session = kit.cached("session", lambda: make_session(config.profile, config.region))
    lake: FileIO = kit.cached("lake", lambda: load_file_io(config.lake, session=session))
    return lake


def count_unit(task: SliceTask, kit: Kit) -> Counted:
    """The count pass of one unit, on any executor."""
    with sliced_query(_lake(task, kit), task.selecting, task.slice) as query:
        rows, fingerprint = query.count()
        sample = tuple(query.sample(task.sample)) if task.sample and rows else ()
        return Counted(task.slice.unit, rows, int(fingerprint), query.keys_matched or 0,
                       sample)


@dataclass(frozen=True)
class VerifyJob:
    """How the verify pass reads a unit back: ``scan`` (the driver scans the new table; the
    unit returns its share of the expected digest) or by key."""

    source_table: str
    restore_id: str
    keys: dict[str, Any]
    now: float
    dead: frozenset[int]
    scan: bool


def written_texts(io: FileIO, job: VerifyJob, unit: int, path: Path,
                  ttl_attribute: str | None) -> Iterator[bytes]:
    """The unit's items minus its dead letters and skipped (expired) items."""
    from restorer.writer import _expired

    dead: set[bytes] = set()
    if unit in job.dead:
        key = layout.restore_dead_letter(job.source_table, job.restore_id, unit)
        dead = {orjson.dumps(orjson.loads(line)["item"])
                for line in io.read(key).splitlines() if line}
    for text in read_unit(path):
        if dead and orjson.dumps(orjson.loads(text)) in dead:
            continue
        if ttl_attribute and _expired(orjson.loads(text), ttl_attribute, job.now):
            continue
        yield text


def verify_unit(task: SliceTask, kit: Kit) -> Verification:
    """The verify pass of one unit: its share of the expected digest (``scan``), or its
    items read back by key."""
    io, job, config = _lake(task, kit), task.verify, task.selecting.config
    with tempfile.TemporaryDirectory(prefix="ddblake-unit-") as folder:
        path = select_rows(io, task.selecting, task.slice, Path(folder))
        texts = written_texts(io, job, task.slice.unit, path, task.selecting.ttl_attribute)
        if job.scan:
            digest = expected_digest(texts)
            return Verification("scan", digest.count, 0, digest.hex(), "")
        ddb = kit.cached("ddb", lambda: make_client("dynamodb", kit.cached(
            "session", lambda: make_session(config.profile, config.region))))
        return verify_by_key(ddb, config.target, KeySchema.from_dict(job.keys), texts,
                             config.mode)


def merge(parts: list[Verification]) -> tuple[Digest, Digest, int, int]:
    """Expected and found digests, missing and different, over the units' shares."""
    expected, found = Digest(), Digest()
    missing = different = 0
    for part in parts:
        expected = expected.combine(Digest.from_hex(part.expected_digest, part.expected_items))
        if part.found_digest:
            found = found.combine(Digest.from_hex(part.found_digest, part.found_items))
        missing += part.missing
        different += part.different
    return expected, found, missing, different


WORKER_MODULES = ("restorer.slices",)
