"""Change records: one row per item change, from any source (stream, Lambda, incremental export).

A change batch is one or more Parquet files under ``changes/`` committed by a small
manifest (``changes/_manifests/<batch-id>.json``), the same commit-last protocol as snapshots.
Images use the same canonical spine as snapshots. Columns:

========== ============ ======================================================================
column     type         content
========== ============ ======================================================================
_event_us  int64        event time, microseconds since the Unix epoch (UTC)
_op        string       INSERT, MODIFY or REMOVE
_keys      JSON         canonical DynamoDB JSON of the key attributes
_new       JSON, null   the new image (absent for REMOVE)
_old       JSON, null   the old image (absent for INSERT, or when the source has no old images)
_new_sha256 string      sha256 of ``_new`` (null when ``_new`` is null)
_pk, _sk   typed        key columns, as in snapshots
_source    string       ``stream:<shard id>``, ``export:<export arn>`` ...
_seq       string       the source's ordering key (stream sequence number, zero-padded)
_ttl       bool         true when DynamoDB's TTL removed the item (stream userIdentity)
========== ============ ======================================================================
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from schemas import names
from schemas.codec import PK, SK
from schemas.dynamo_json import Item, canonical_bytes, sha256_hex
from schemas.errors import UnsafeNameError
from schemas.keys import KeySchema
from schemas.manifest import PartInfo, checked_parts
from schemas.models import dump_checked, load_checked

Operation = Literal["INSERT", "MODIFY", "REMOVE"]
OPERATIONS = ("INSERT", "MODIFY", "REMOVE")
FORMAT_VERSION = 1
KIND = "change_batch"


@dataclass
class ChangeRecord:
    event_us: int
    op: Operation
    keys: Item
    new: Item | None
    old: Item | None
    source: str
    seq: str
    ttl: bool = False


def infer_operation(new: Item | None, old: Item | None) -> Operation:
    """Which change a pair of images describes (used where a source gives images only)."""
    if new is None:
        return "REMOVE"
    return "INSERT" if old is None else "MODIFY"


def _key_column(values: list[Any], key_type: str) -> pa.Array:
    """``_pk``/``_sk`` as in snapshots: S and N as text, B decoded from base64."""
    inner = [next(iter(v.values())) for v in values]
    if key_type == "B":
        return pa.array([base64.b64decode(b) for b in inner], pa.binary())
    return pa.array(inner, pa.string())


def _json(texts: list[bytes | None]) -> pa.Array:
    return pa.ExtensionArray.from_storage(pa.json_(), pa.array(texts, pa.string()))


def change_table(records: Iterable[ChangeRecord], keys: KeySchema) -> pa.Table:
    """Encode change records (images taken over and canonicalized in place)."""
    rows = list(records)
    new_texts = [canonical_bytes(r.new) if r.new is not None else None for r in rows]
    key_items = [r.keys for r in rows]
    columns: dict[str, pa.Array] = {
        "_event_us": pa.array([r.event_us for r in rows], pa.int64()),
        "_op": pa.array([r.op for r in rows], pa.string()),
        "_keys": _json([canonical_bytes(r.keys) for r in rows]),
        "_new": _json(new_texts),
        "_old": _json([canonical_bytes(r.old) if r.old is not None else None for r in rows]),
        "_new_sha256": pa.array([sha256_hex(t) if t is not None else None for t in new_texts],
                                pa.string()),
        PK: _key_column([k[keys.partition.name] for k in key_items], keys.partition.type),
    }
    if keys.sort is not None:
        columns[SK] = _key_column([k[keys.sort.name] for k in key_items], keys.sort.type)
    columns["_source"] = pa.array([r.source for r in rows], pa.string())
    columns["_seq"] = pa.array([r.seq for r in rows], pa.string())
    columns["_ttl"] = pa.array([r.ttl for r in rows], pa.bool_())
    return pa.table(columns)


@dataclass(frozen=True)
class ChangeBatch:
    """The commit record of one change batch; part paths are relative to the table folder."""

    batch_id: str
    table: str
    created_at: str
    tool_version: str
    source: dict[str, Any]
    key_schema: KeySchema
    first_event_us: int
    last_event_us: int
    parts: tuple[PartInfo, ...]
    rows: int
    positions: dict[str, str]
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "format_version": self.format_version, "batch_id": self.batch_id,
                "table": self.table, "created_at": self.created_at,
                "tool": {"name": "ddblake", "version": self.tool_version},
                "source": self.source, "key_schema": self.key_schema.to_dict(),
                "first_event_us": self.first_event_us, "last_event_us": self.last_event_us,
                "parts": [p.to_dict() for p in self.parts], "rows": self.rows,
                "positions": self.positions}

    def to_bytes(self) -> bytes:
        return dump_checked(self.to_dict())


def _build(d: dict[str, Any]) -> ChangeBatch:
    parts = checked_parts(d["parts"], under="changes")
    for part in parts:
        if part.path.startswith("changes/_manifests/"):
            raise UnsafeNameError(f"part path {part.path!r} is inside changes/_manifests/",
                                  hint="a hostile or damaged change batch manifest")
    if sum(p.rows for p in parts) != int(d["rows"]):
        raise ValueError("rows differs from the sum of part rows")
    return ChangeBatch(names.lake_id(d["batch_id"], what="batch_id"),
                       names.table_name(d["table"], what="table"), str(d["created_at"]),
                       str(d["tool"]["version"]), dict(d["source"]),
                       KeySchema.from_dict(d["key_schema"]), int(d["first_event_us"]),
                       int(d["last_event_us"]), parts, int(d["rows"]),
                       {str(k): str(v) for k, v in dict(d["positions"]).items()},
                       int(d["format_version"]))


def parse_change_batch(data: bytes, *, what: str = "change batch manifest") -> ChangeBatch:
    """The only way to read a change batch manifest; failures are ManifestError (exit 4).
    Untrusted like a snapshot manifest: its batch id and table name must have their shapes
    and its part paths must be inside the table's ``changes/`` (``schemas.names``)."""
    return load_checked(data, what=what, kind=KIND, versions=frozenset({FORMAT_VERSION}),
                        build=_build)
