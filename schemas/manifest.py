"""The snapshot manifest: the commit record of one snapshot.

A snapshot exists only when its manifest exists. The manifest is frozen, versioned
(``format_version``), carries a self-checksum, and is documented for other tools by
``schemas/manifest.schema.json``. :func:`parse_manifest` is the only way to read one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from schemas import names
from schemas.dynamo_json import CANONICAL_VERSION, Item
from schemas.errors import UnsafeNameError
from schemas.keys import KeySchema
from schemas.models import dump_checked, load_checked
from schemas.projection import ColumnDecision
from schemas.table_schema import TableSchema

FORMAT_VERSION = 1  # a manifest with a table schema is written as format 2
READABLE_VERSIONS = frozenset({1, 2})
KIND = "snapshot"


@dataclass(frozen=True)
class PartInfo:
    """One immutable data file; ``path`` is relative to the snapshot folder."""

    path: str
    rows: int
    bytes: int
    sha256: str
    digest: str
    min_key: Item | None = None
    max_key: Item | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "bytes": self.bytes, "sha256": self.sha256,
                "digest": self.digest, "min_key": self.min_key, "max_key": self.max_key}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PartInfo:
        return cls(str(d["path"]), int(d["rows"]), int(d["bytes"]), str(d["sha256"]),
                   str(d["digest"]), d.get("min_key"), d.get("max_key"))


@dataclass(frozen=True)
class Source:
    """Where the items came from."""

    table_name: str
    method: Literal["scan", "export"]
    table_arn: str | None = None
    region: str | None = None
    account: str | None = None
    export_arn: str | None = None
    segments: int | None = None
    consistent_read: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"table_name": self.table_name, "method": self.method, "table_arn": self.table_arn,
                "region": self.region, "account": self.account, "export_arn": self.export_arn,
                "segments": self.segments, "consistent_read": self.consistent_read}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Source:
        if d["method"] not in ("scan", "export"):
            raise ValueError(f"unknown source method {d['method']!r}")
        return cls(d["table_name"], d["method"], d.get("table_arn"), d.get("region"),
                   d.get("account"), d.get("export_arn"), d.get("segments"),
                   d.get("consistent_read"))


@dataclass(frozen=True)
class Consistency:
    """``exact`` at ``at``; or ``fuzzy`` over the scan window ``start``..``end``.
    Times are ISO 8601 UTC with microseconds."""

    kind: Literal["exact", "fuzzy"]
    start: str
    end: str

    @property
    def at(self) -> str:
        return self.end

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Consistency:
        if d["kind"] not in ("exact", "fuzzy"):
            raise ValueError(f"unknown consistency {d['kind']!r}")
        return cls(d["kind"], str(d["start"]), str(d["end"]))


@dataclass(frozen=True)
class Totals:
    items: int
    bytes: int
    item_bytes: int
    content_digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "bytes": self.bytes, "item_bytes": self.item_bytes,
                "content_digest": self.content_digest}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Totals:
        return cls(int(d["items"]), int(d["bytes"]), int(d["item_bytes"]),
                   str(d["content_digest"]))


@dataclass(frozen=True)
class Manifest:
    snapshot_id: str
    table: str
    created_at: str
    tool_version: str
    source: Source
    consistency: Consistency
    key_schema: KeySchema
    table_description: dict[str, Any]
    parts: tuple[PartInfo, ...]
    columns: tuple[ColumnDecision, ...]
    totals: Totals
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    canonical_version: int = CANONICAL_VERSION
    schema: dict[str, Any] | None = None  # format 2: the table schema of every part

    @property
    def table_schema(self) -> TableSchema | None:
        """The table schema the parts were written against (format 2), else None."""
        return None if self.schema is None else TableSchema.from_dict(self.schema)

    def to_dict(self) -> dict[str, Any]:
        schema = {} if self.schema is None else {"schema": self.schema}
        return {**schema,
            "kind": KIND,
            "format_version": self.format_version,
            "canonical_version": self.canonical_version,
            "snapshot_id": self.snapshot_id,
            "table": self.table,
            "created_at": self.created_at,
            "tool": {"name": "ddblake", "version": self.tool_version},
            "source": self.source.to_dict(),
            "consistency": self.consistency.to_dict(),
            "key_schema": self.key_schema.to_dict(),
            "table_description": self.table_description,
            "parts": [p.to_dict() for p in self.parts],
            "columns": [c.to_dict() for c in self.columns],
            "totals": self.totals.to_dict(),
            "extra": self.extra,
        }

    def to_bytes(self) -> bytes:
        return dump_checked(self.to_dict())

    def with_extra(self, **values: Any) -> Manifest:
        return replace(self, extra={**self.extra, **values})


def _check_schema(d: dict[str, Any], keys: KeySchema) -> dict[str, Any] | None:
    """Format 2 carries the table schema of its parts, for its table and key schema."""
    if int(d["format_version"]) == 1:
        if "schema" in d:
            raise ValueError("a format 1 manifest has no schema")
        return None
    schema = TableSchema.from_dict(d["schema"])
    if schema.table != d["table"] or schema.keys != keys:
        raise ValueError("the schema is of another table or key schema")
    return dict(d["schema"])


def checked_parts(raw: Any, *, under: str) -> tuple[PartInfo, ...]:
    """The parts of a lake document, each path a safe relative path inside ``under``
    (``schemas.names``), no path twice; UnsafeNameError (exit 4) otherwise."""
    if not isinstance(raw, list):
        raise TypeError("parts is not a list")
    parts = tuple(PartInfo.from_dict(p) for p in raw)
    seen: set[str] = set()
    for part in parts:
        names.relative_path(part.path, under=under, what="part path")
        if part.path in seen:
            raise UnsafeNameError(f"part path {part.path!r} is listed twice",
                                  hint="a hostile or damaged manifest; do not use it")
        seen.add(part.path)
    return parts


def _build(d: dict[str, Any]) -> Manifest:
    parts = checked_parts(d["parts"], under="data")
    snapshot_id = names.lake_id(d["snapshot_id"], what="snapshot_id")
    table = names.table_name(d["table"], what="table")
    keys = KeySchema.from_dict(d["key_schema"])
    schema = _check_schema(d, keys)
    totals = Totals.from_dict(d["totals"])
    if sum(p.rows for p in parts) != totals.items:
        raise ValueError("totals.items differs from the sum of part rows")
    return Manifest(
        snapshot_id=snapshot_id, table=table, created_at=str(d["created_at"]),
        tool_version=str(d["tool"]["version"]), source=Source.from_dict(d["source"]),
        consistency=Consistency.from_dict(d["consistency"]),
        key_schema=keys, table_description=dict(d["table_description"]), parts=parts,
        columns=tuple(ColumnDecision.from_dict(c) for c in d["columns"]), totals=totals,
        extra=dict(d.get("extra") or {}), format_version=int(d["format_version"]),
        canonical_version=int(d["canonical_version"]), schema=schema)


def parse_manifest(data: bytes, *, what: str = "manifest") -> Manifest:
    """The only way to read a snapshot manifest; every failure is a ManifestError (exit 4).

    A manifest is untrusted input: anyone can recompute its self-checksum. Beyond the
    checksum, its table name and snapshot id must have their shapes and every part path must
    be a relative path inside the snapshot's ``data/`` (no ``..``, no absolute path, no
    scheme, no backslash, empty segment or control character; ``schemas.names``)."""
    return load_checked(data, what=what, kind=KIND, versions=READABLE_VERSIONS, build=_build)
