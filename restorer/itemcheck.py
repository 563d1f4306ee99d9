"""Every item a restore writes is checked against the hash the backup recorded for it.

A restore writes only what it verified came from the backup. Parts are checked whole against
their manifests before anything is read (:mod:`lake.verified`), but the items of a format 2
snapshot are *rebuilt* by DuckDB SQL (:func:`queries.format2sql.item_sql`): a DuckDB that
renders a decimal or a JSON value differently would hand over a wrong item from intact
parts. So each row the restore selects carries the hash the backup recorded for its item
(``_item_hash``: the first 8 bytes of the sha256 of its canonical text, big-endian, signed;
docs/decisions/005) and :func:`damaged_rows` checks the text against it.

What each source records (:mod:`queries.selections` gives every row ``_item_hash``):

- a format 2 snapshot row (scan, native export import): ``_item_hash``, stored; ``_item``
  is rebuilt from the typed columns and ``_rest``;
- a format 1 snapshot row: ``_item`` stored whole and ``_item_sha256`` (hex); the
  selection gives its first 16 hex digits as ``_item_hash``;
- a change record's new image (``--as-of``, point-in-time and ``--changed-between`` replays,
  incremental native exports): ``_new`` stored whole with ``_new_sha256``, the same way;
- a change record's old image (``--deleted-between``, the image before a REMOVE): no
  recorded hash (schemas/changes.py); the selection hashes the text it reads from the part,
  whose file sha256 its manifest recorded, so the check there only proves that the text
  arrived as read.

The check (one sha256 per item, ~2 µs): hash the text as selected; where it differs from
``_item_hash``, parse the text and hash its canonical rendering (DuckDB escapes a few control
characters with upper-case hex, and sets may come in another order): a row that still
differs is damaged. A row without a text or a recorded hash is damaged too.

Where it runs, and what a damaged row does:

- **the driver, up front.** :class:`restorer.spool.Spool` fills the units from the selection
  and hands every batch to a :class:`Tally` first: the driver reads every selected row
  anyway, and the check costs a fraction of writing an item (the restore measures both), so
  a damaged item makes the whole restore refuse (:class:`DamagedItems`, CorruptDataError,
  exit 4) before the target table is created, before any journal is saved and before any
  item is written. The message names the table, the source (snapshot or time), the damaged
  items' keys and the parts holding their rows. ``--dry-run`` runs the same check and
  refuses the same way. Refusing all rather than restoring the rest: a restore is one
  consistent state of a table; a partial one that looks finished is worse than none.
- **each unit, at its input boundary** (:func:`intact`, called by
  :func:`restorer.units.write_unit` on the batches it receives, wherever they come from:
  the local spool, the spool staged in the lake, or rows a unit selects itself): a batch
  with a damaged row is not written at all, and the unit stops with :class:`DamagedItems`.
  It is not journaled as finished, so the restore exits 4 and ``--resume`` writes it again
  (and checks it again) rather than counting it as restored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas.dynamo_json import canonical_bytes, parse_item
from schemas.errors import CorruptDataError
from schemas.keys import KeySchema
from schemas.rowcodec import hash_of

ITEM = "_item"
HASH = "_item_hash"
SHOWN = 10  # damaged items a message names
_HEX_COLUMNS = ("_item_sha256", "_new_sha256")  # format 1 and change parts


def damaged_rows(batch: pa.RecordBatch) -> list[int]:
    """The rows of ``batch`` whose ``_item`` text is not the item ``_item_hash`` records."""
    texts: list[bytes | None] = batch.column(ITEM).cast(pa.binary()).to_pylist()
    recorded = batch.column(HASH).cast(pa.int64())  # a no-op for the int64 it is
    sha256 = hashlib.sha256
    got = np.frombuffer(b"".join([sha256(t or b"").digest()[:8] for t in texts]), dtype=">i8")
    want = _values(recorded)
    suspects = np.flatnonzero((got != want) | _absent(recorded, batch.column(ITEM)))
    return [int(i) for i in suspects if not _canonical_match(texts[i], recorded[i].as_py())]


def _values(column: pa.Array) -> np.ndarray:
    """An int64 column's values, nulls as whatever their slots hold (pyarrow's
    ``fill_null`` and boolean ``to_numpy`` import pandas on first use: two seconds)."""
    values = np.frombuffer(column.buffers()[1], dtype=np.int64)
    return values[column.offset:column.offset + len(column)]


def _absent(*columns: pa.Array) -> np.ndarray | bool:
    """Where any of ``columns`` is null (False when none has a null)."""
    if not any(c.null_count for c in columns):
        return False
    nulls = [pc.is_null(c).to_pylist() for c in columns]
    return np.array([any(row) for row in zip(*nulls, strict=True)], dtype=bool)


def _canonical_match(text: bytes | None, recorded: int | None) -> bool:
    """Whether ``text``, rendered canonically, hashes to ``recorded``."""
    if text is None or recorded is None:
        return False
    try:
        return hash_of(canonical_bytes(parse_item(text))) == recorded
    except (ValueError, TypeError, ArithmeticError, AttributeError, StopIteration):
        return False  # not an item at all


@dataclass(frozen=True)
class Damaged:
    """One damaged item: its key as the selection gives it, and the hash recorded for it."""

    key: str
    recorded: int | None
    parts: tuple[str, ...] = ()

    def text(self) -> str:
        where = f" in {', '.join(self.parts)}" if self.parts else ""
        recorded = "none" if self.recorded is None else f"{self.recorded & (2**64 - 1):016x}"
        return f"{self.key} (recorded hash {recorded}{where})"


def _key_text(batch: pa.RecordBatch, row: int, keys: KeySchema) -> str:
    """``name=value`` for each key attribute (the spooled key columns ``_k0``, ``_k1``)."""
    out = []
    for i, attr in enumerate(keys.attributes):
        column = f"_k{i}"
        value = batch.column(column)[row].as_py() if column in batch.schema.names else None
        out.append(f"{attr.name}={orjson.dumps(value).decode('utf-8')}")
    return ", ".join(out)


@dataclass
class Tally:
    """Damaged rows counted over many batches, the first :data:`SHOWN` of them described."""

    keys: KeySchema
    count: int = 0
    found: list[Damaged] = field(default_factory=list)

    def add(self, batch: pa.RecordBatch) -> None:
        rows = damaged_rows(batch)
        self.count += len(rows)
        for row in rows[:max(0, SHOWN - len(self.found))]:
            self.found.append(Damaged(_key_text(batch, row, self.keys), batch.column(HASH)[row]
                                      .as_py()))


class DamagedItems(CorruptDataError):
    """Selected items differ from the hash the backup recorded for them; they are not
    restored (exit 4)."""

    def __init__(self, table: str, source: str, tally: Tally, *, lake: str,
                 written: str = "nothing was written") -> None:
        shown = "; ".join(d.text() for d in tally.found)
        more = tally.count - len(tally.found)
        super().__init__(
            f"{tally.count} selected item(s) of table {table} ({source}) differ from the hash "
            f"the backup recorded for them; not restoring them: {shown}"
            + (f"; and {more} more" if more > 0 else ""),
            hint=f"{written}. Run `ddblake verify --all --deep --lake {lake} --table "
                 f"{table}`: if it names damaged parts, restore another snapshot or time; if "
                 "it finds none, the items were rebuilt wrongly while reading (a DuckDB "
                 "version ddblake does not support?): report it")
        self.table = table
        self.damaged = list(tally.found)
        self.count = tally.count


def intact(batches: Iterable[pa.RecordBatch], keys: KeySchema, *, table: str, source: str,
           lake: str) -> Iterator[pa.RecordBatch]:
    """``batches``, each checked before it is handed on (DamagedItems at the first batch
    with a damaged row: none of its rows is handed on)."""
    for batch in batches:
        tally = Tally(keys)
        tally.add(batch)
        if tally.count:
            raise DamagedItems(table, source, tally, lake=lake,
                               written="no item of the batch that holds them was written")
        yield batch


def locate(tally: Tally, parts: Sequence[tuple[str, str]]) -> Tally:
    """``tally`` with each described item's parts: those of ``parts`` (local file, name to
    show) holding a row with its recorded hash. Reads one column of each file."""
    wanted = {d.recorded for d in tally.found if d.recorded is not None}
    holders: dict[int, list[str]] = {h: [] for h in wanted}
    for path, name in parts if wanted else ():
        for h in _hashes_in(path, wanted):
            holders[h].append(name)
    found = [replace(d, parts=tuple(holders.get(d.recorded, ())) if d.recorded is not None
                     else ()) for d in tally.found]
    return Tally(tally.keys, tally.count, found)


def _hashes_in(path: str, wanted: set[int]) -> set[int]:
    names = pq.read_schema(path).names
    if HASH in names:
        values = pq.read_table(path, columns=[HASH]).column(HASH)
        hit = pc.filter(values, pc.is_in(values, pa.array(sorted(wanted), pa.int64())))
        return {int(v) for v in hit.to_pylist()}
    hexes = {f"{h & (2**64 - 1):016x}": h for h in wanted}
    for column in (c for c in _HEX_COLUMNS if c in names):
        prefixes = pc.utf8_slice_codeunits(pq.read_table(path, columns=[column])
                                           .column(column), 0, 16)
        hit = pc.filter(prefixes, pc.is_in(prefixes, pa.array(sorted(hexes))))
        return {hexes[v] for v in hit.to_pylist()}
    return set()


__all__ = ["Damaged", "DamagedItems", "Tally", "damaged_rows", "intact", "locate"]
