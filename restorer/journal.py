"""The restore journal: what a restore was asked to do and which units are finished.

Kept in the lake at ``<table>/state/restores/<restore-id>/journal.json`` and rewritten (by
the coordinating process only) after every unit, so ``--resume`` skips finished units.
Puts are whole-item and idempotent, so a unit that was half written when a run died is
simply written again. The selection's count and fingerprint are recorded: a resume whose
selection no longer matches is refused.

Each run of a restore holds its lock (:func:`lock_restore`, ``lock.json`` next to the
journal) while it runs, and is numbered (``runs``); each finished unit records which run
finished it, so a summary can tell what this run wrote from what earlier runs did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from lake import layout
from lake.fileio import FileIO
from lake.joblock import JobLock, acquire, lock_key
from lake.writers import utc_now
from schemas.errors import ManifestError

VERSION = 1


@dataclass
class UnitRecord:
    """What the run that finished a unit did with its items (each counted once):
    ``written`` by that run, ``already_written`` found written by an earlier run of the same
    restore (put-if-absent), ``skipped_existing`` there before the restore, expired, dead."""

    written: int
    skipped_existing: int
    skipped_expired: int
    dead: int
    requests: int = 0
    retry_rounds: int = 0
    already_written: int = 0
    run: int = 0

    @property
    def items(self) -> int:
        return (self.written + self.already_written + self.skipped_existing
                + self.skipped_expired + self.dead)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UnitRecord:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class Journal:
    restore_id: str
    source_table: str
    snapshot_id: str | None
    target: str
    request: dict[str, Any]
    selected: int
    fingerprint: str
    units: int
    created_table: bool = False
    table_ready: bool = False
    status: str = "running"
    done: dict[int, UnitRecord] = field(default_factory=dict)
    updated_at: str = ""
    runs: int = 0

    def key(self) -> str:
        return layout.restore_journal(self.source_table, self.restore_id)

    def reload(self, io: FileIO) -> Journal:
        """The journal as the lake holds it now (read again once its lock is held)."""
        return Journal.parse(io.read(self.key()), io.full_uri(self.key()))

    def save(self, io: FileIO) -> None:
        self.updated_at = utc_now()
        data = {"kind": "restore-journal", "version": VERSION, **{
            k: v for k, v in self.__dict__.items() if k != "done"},
            "done": {str(u): r.to_dict() for u, r in sorted(self.done.items())}}
        io.write(self.key(), orjson.dumps(data, option=orjson.OPT_INDENT_2))

    @classmethod
    def parse(cls, data: bytes, what: str) -> Journal:
        try:
            d = orjson.loads(data)
            if d.get("kind") != "restore-journal" or d.get("version") != VERSION:
                raise ValueError("not a restore journal of a known version")
            done = {int(u): UnitRecord.from_dict(r) for u, r in d.pop("done").items()}
            d.pop("kind")
            d.pop("version")
            return cls(**d, done=done)
        except (ValueError, TypeError, KeyError) as e:
            raise ManifestError(f"{what} is not a readable restore journal: {e}",
                                hint="start a new restore (leave out --resume)") from e

    def finished(self, unit: int) -> bool:
        record = self.done.get(unit)
        return record is not None and record.dead == 0


def lock_restore(io: FileIO, journal: Journal) -> JobLock:
    """Hold the restore (BusyError naming the holder when another run has it)."""
    state_dir = journal.key().rsplit("/", 1)[0]
    return acquire(io, lock_key(state_dir), command="restore",
                   job=f"restore {journal.restore_id} of {journal.source_table} into "
                       f"{journal.target}")


def find_resumable(io: FileIO, source_table: str, target: str) -> Journal | None:
    """The newest journal of restores from ``source_table`` into ``target``. A complete
    one is returned too: resuming it writes nothing and verifies again."""
    prefix = layout.restores_prefix(source_table)
    keys = sorted((info.key for info in io.iter_objects(prefix)
                   if info.key.endswith("/journal.json")), reverse=True)
    for key in keys:
        journal = Journal.parse(io.read(key), io.full_uri(key))
        if journal.target == target:
            return journal
    return None
