"""Check that committed snapshots and change batches are whole and unaltered.

Two depths, as restic/borg/pg_verifybackup do:

* **structure** (cheap, metadata only): the manifest parses (self-checksum, known format
  version, schema) and every part it lists is present with the recorded size; on S3 each
  part's whole-object SHA-256 that S3 stored at upload is compared with the manifest's, and a
  part S3 holds none for (a plain PutObject stores CRC32, multipart uploads a composite) is
  downloaded and hashed: no part passes unchecked;
* **deep** (reads every byte): each part's sha256 is recomputed from the stored bytes, every
  row's ``sha256(_item)`` is compared with ``_item_sha256`` (pages are read with their Parquet
  CRC checked where the writer stored one), rows are recounted, and each part digest and the
  snapshot's content digest are recomputed.

Every problem found is recorded (not just the first) in a :class:`VerifyResult`; the result
turns into the most severe error with :meth:`VerifyResult.error` (corrupt = exit 4, missing =
exit 5, archived and needs thaw = exit 6).
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow.parquet as pq

from lake import catalog, layout
from lake.archive import is_readable
from lake.commit import file_sha256
from lake.fileio import FileIO, ObjectInfo, S3FileIO, load_file_io
from lake.progress import NullListener, ProgressListener
from lake.verified import hash_object
from runtime.executor import Executor, Kit
from runtime.threads import bounded_map
from schemas.changes import parse_change_batch
from schemas.codec import ITEM, ITEM_SHA, iter_item_texts
from schemas.dynamo_json import Digest
from schemas.errors import (
    ArchivedError,
    CorruptDataError,
    DdbLakeError,
    ManifestError,
    MissingDataError,
    NotFoundError,
    UsageError,
)
from schemas.manifest import PartInfo, parse_manifest
from schemas.rowcodec import HASH, decode_texts, hash_of, part_schema

Kind = Literal["manifest", "corrupt", "missing", "archived"]
_SEVERITY: dict[str, int] = {"manifest": 0, "corrupt": 0, "missing": 1, "archived": 2}
DEEP_WORKERS = 4
RowReader = Callable[[Path], Iterator[tuple[str | None, str | None]]]


class RowDigest(Digest):
    """A digest that also counts rows without a hashed image (change REMOVE rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows = 0

    def combine(self, other: Digest) -> RowDigest:
        merged = RowDigest()
        merged.value = (self.value + other.value) % self.MOD
        merged.count = self.count + other.count
        merged.rows = self.rows + getattr(other, "rows", other.count)
        return merged


@dataclass(frozen=True)
class Problem:
    """One thing wrong: what kind, which object (lake-relative key), and how."""

    kind: Kind
    key: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.key}: {self.detail}"


@dataclass
class VerifyResult:
    """What a verification of one snapshot (or change batch) found."""

    table: str
    id: str
    what: Literal["snapshot", "changes"] = "snapshot"
    deep: bool = False
    parts: int = 0
    items: int = 0
    rows: int = 0
    bytes: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: Kind, key: str, detail: str) -> None:
        self.problems.append(Problem(kind, key, detail))

    def error(self) -> DdbLakeError | None:
        return worst_error([self])

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "id": self.id, "what": self.what, "deep": self.deep,
                "ok": self.ok, "parts": self.parts, "items": self.items,
                "rows_rehashed": self.rows, "bytes": self.bytes,
                "problems": [str(p) for p in self.problems], "notes": self.notes}


def worst_error(results: list[VerifyResult]) -> DdbLakeError | None:
    """The error for the most severe problem across ``results`` (None when all are fine):
    corrupt or bad manifest before missing before archived."""
    problems = [(p, r) for r in results for p in r.problems]
    if not problems:
        return None
    worst, where = min(problems, key=lambda pr: _SEVERITY[pr[0].kind])
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    message = f"verification failed ({count}); first of the worst: {worst}"
    if worst.kind == "manifest":
        return ManifestError(message, hint="do not restore from this snapshot; restore an "
                                           "older one or re-export the table")
    if worst.kind == "corrupt":
        return CorruptDataError(message, hint="the stored bytes differ from what was "
                                              "committed; restore from another snapshot or copy")
    if worst.kind == "missing":
        return MissingDataError(message, hint="a part was deleted; restore from another "
                                              "snapshot or copy of the lake")
    return ArchivedError(message, hint="the structure is fine but the data is in cold "
                                       f"storage: run `ddblake thaw {where.id} --lake LAKE "
                                       "--wait`, then verify with --deep again")


def verify_snapshot(io: FileIO, table: str, snapshot_id: str, *, deep: bool = False,
                    listener: ProgressListener | None = None, workers: int = DEEP_WORKERS,
                    distributed: Distributed | None = None) -> VerifyResult:
    """Verify one snapshot; never raises for what it finds (see ``result.problems``)."""
    listener = listener or NullListener()
    result = VerifyResult(table, snapshot_id, deep=deep)
    key = layout.snapshot_manifest(table, snapshot_id)
    try:
        manifest = parse_manifest(io.read(key), what=io.full_uri(key))
    except ManifestError as e:
        result.add("manifest", key, e.message)
        return result
    except DdbLakeError as e:  # NotFoundError and friends
        result.add("missing", key, f"manifest cannot be read: {e.message}")
        return result
    if manifest.snapshot_id != snapshot_id or manifest.table != table:
        result.add("manifest", key, f"manifest names {manifest.table}/{manifest.snapshot_id}")
    result.items = manifest.totals.items
    folder = layout.snapshot_dir(table, snapshot_id)
    listed = {key} | {f"{folder}{p.path}" for p in manifest.parts}
    result.notes += [f"{info.key}: not listed in the manifest (ignored by every reader; "
                     "`ddblake gc` removes orphans)"
                     for info in io.iter_objects(folder) if info.key not in listed]
    digest = _check_parts(io, folder, manifest.parts, result, deep, listener, workers=workers,
                          distributed=distributed)
    if deep and digest is not None:
        if digest.rows != manifest.totals.items:
            result.add("corrupt", key, f"{digest.rows} rows found, manifest says "
                                       f"{manifest.totals.items}")
        if digest.hex() != manifest.totals.content_digest:
            result.add("corrupt", key, "content digest differs from the manifest's")
    return result


def _check_parts(io: FileIO, folder: str, parts: tuple[PartInfo, ...], result: VerifyResult,
                 deep: bool, listener: ProgressListener,
                 rows_of: RowReader | None = None, workers: int = DEEP_WORKERS,
                 distributed: Distributed | None = None) -> RowDigest | None:
    """Check every part under ``folder``; with ``deep``, return the recomputed digest of the
    rows that could be read (None when some part could not be read at all).

    Deep checks run on up to ``workers`` parts at once (downloads overlap; each holds one
    part in a temporary file), or as units on ``distributed``'s executor; findings are
    merged in part order."""
    task = f"verify {result.table}/{result.id}"
    listener.started(task, total=sum(p.bytes for p in parts), unit="bytes")
    readable: list[tuple[str, PartInfo]] = []
    for part in parts:
        key = f"{folder}{part.path}"
        info, checksum = head(io, key)
        result.parts += 1
        if not _structure_ok(info, key, part, result):
            continue
        if checksum is not None and checksum != part.sha256:
            result.add("corrupt", key, "S3's stored SHA-256 checksum differs from the "
                                       "manifest's sha256 (the object was replaced)")
        assert info is not None
        result.bytes += part.bytes
        if deep and not is_readable(info):
            result.add("archived", key, f"in {info.storage_class}; thaw it to read it")
        elif deep:
            readable.append((key, part))
        else:
            if checksum is None and isinstance(io, S3FileIO):
                _hash_unchecked(io, key, part, info, result)
            listener.advanced(task, part.bytes, bytes=part.bytes)
    total = RowDigest()
    unread = len(parts) - len(readable)
    if deep:
        changes = rows_of is _change_rows
        checks: Iterator[tuple[PartInfo, RowDigest | None, VerifyResult]]
        if distributed is None:
            checks = bounded_map(lambda item: _check_one(io, item[0], item[1], result, changes),
                                 readable, max(1, workers))
        else:
            checks = distributed.run(io, readable, result, changes)
        order = {part.path: n for n, (_key, part) in enumerate(readable)}
        sinks: list[tuple[int, VerifyResult]] = []
        for part, digest, sink in checks:
            sinks.append((order[part.path], sink))
            result.rows += sink.rows
            if digest is None:
                unread += 1
            else:
                total = total.combine(digest)
            listener.advanced(task, part.bytes, bytes=part.bytes)
        for _n, sink in sorted(sinks, key=lambda found: found[0]):  # findings in part order
            result.problems += sink.problems
    listener.finished(task)
    return total if deep and unread == 0 else None


def head(io: FileIO, key: str) -> tuple[ObjectInfo | None, str | None]:
    """Stat ``key``; on S3 also the whole-object SHA-256 that S3 stored at upload (hex), when
    it has one (single-part uploads; multipart uploads have a composite checksum)."""
    if not isinstance(io, S3FileIO):
        return io.stat(key), None
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import error_code

    try:
        head = io.client.head_object(Bucket=io.location.bucket, Key=io._key(key),
                                     ChecksumMode="ENABLED")
    except (ClientError, BotoCoreError) as e:
        if isinstance(e, ClientError) and error_code(e) in ("404", "NoSuchKey", "NotFound"):
            return None, None
        return io.stat(key), None  # let stat raise the translated error (or succeed)
    info = ObjectInfo(key, int(head["ContentLength"]), head["LastModified"],
                      head.get("StorageClass") or "STANDARD", head.get("Restore"))
    stored = head.get("ChecksumSHA256")
    if not stored or "-" in stored or head.get("ChecksumType") == "COMPOSITE":
        return info, None
    return info, base64.b64decode(stored).hex()


def _hash_unchecked(io: FileIO, key: str, part: PartInfo, info: ObjectInfo,
                    result: VerifyResult) -> None:
    """A part S3 holds no whole-object SHA-256 for (a plain PutObject stores CRC32; multipart
    uploads store a composite): download and hash it, never pass it unchecked."""
    if not is_readable(info):
        result.add("archived", key, f"in {info.storage_class} and S3 holds no SHA-256 of it "
                                    "to compare: thaw it so it can be checked")
        return
    try:
        size, sha = hash_object(io, key)
    except ArchivedError as e:
        result.add("archived", key, e.message)
        return
    except DdbLakeError as e:
        result.add("missing", key, f"cannot be read: {e.message}")
        return
    if (size, sha) != (part.bytes, part.sha256):
        result.add("corrupt", key, "sha256 of the stored bytes differs from the manifest (S3 "
                                   "holds no SHA-256 of this object: it was replaced or "
                                   "written by another tool)")
    else:
        result.notes.append(f"{key}: S3 holds no SHA-256 of it; downloaded and hashed: ok")


def _structure_ok(info: ObjectInfo | None, key: str, part: PartInfo,
                  result: VerifyResult) -> bool:
    if info is None:
        result.add("missing", key, "part is listed in the manifest but absent")
        return False
    if info.size != part.bytes:
        how = "truncated" if info.size < part.bytes else "longer than recorded"
        result.add("corrupt", key, f"{how}: {info.size} bytes, manifest says {part.bytes}")
        return False
    return True


def _deep_part(io: FileIO, key: str, part: PartInfo, result: VerifyResult,
               rows_of: RowReader) -> RowDigest | None:
    """Re-hash one part's bytes and rows; None when its rows could not be read."""
    with tempfile.TemporaryDirectory(prefix="ddblake-verify-") as tmp:
        local = Path(tmp, "part.parquet")
        try:
            io.get_file(key, local)
        except ArchivedError as e:
            result.add("archived", key, e.message)
            return None
        except DdbLakeError as e:
            result.add("missing", key, f"cannot be read: {e.message}")
            return None
        if file_sha256(local) != part.sha256:
            result.add("corrupt", key, "sha256 of the stored bytes differs from the manifest")
        digest = RowDigest()
        bad_rows = 0
        try:
            for text, recorded in rows_of(local):
                digest.rows += 1
                if text is None:
                    continue
                actual = hashlib.sha256(text.encode("utf-8")).hexdigest()
                if actual != recorded:
                    bad_rows += 1
                digest.add_hex(actual)
        except Exception as e:  # pyarrow raises many types on damaged files
            result.add("corrupt", key, f"cannot be decoded as Parquet ({type(e).__name__}: "
                                       f"{str(e)[:120]})")
            return None
    result.rows += digest.rows
    if bad_rows:
        result.add("corrupt", key, f"{bad_rows} rows whose sha256(_item) differs from "
                                   "_item_sha256")
    if digest.rows != part.rows:
        result.add("corrupt", key, f"{digest.rows} rows, manifest says {part.rows}")
    elif digest.hex() != part.digest:
        result.add("corrupt", key, "row digest differs from the manifest's")
    return digest


def _snapshot_rows(path: Path) -> Iterator[tuple[str | None, str | None]]:
    """(``_item`` text, recorded ``_item_sha256``) for every row, batch by batch. Format 2
    parts record 8 bytes of it (``_item_hash``): the rebuilt text's sha256 is given as
    recorded when its first 8 bytes match, else a value that never matches."""
    parquet = pq.ParquetFile(path, page_checksum_verification=True)
    schema = part_schema(parquet.schema_arrow.metadata)
    if schema is not None:
        for batch in parquet.iter_batches(batch_size=8192):
            recorded = batch.column(HASH).to_pylist()
            for text, short in zip(decode_texts(batch, schema), recorded, strict=True):
                full = hashlib.sha256(text.encode("utf-8")).hexdigest()
                yield text, full if hash_of(text.encode("utf-8")) == short else "differs"
        return
    for batch in parquet.iter_batches(columns=[ITEM, ITEM_SHA], batch_size=8192):
        recorded = batch.column(ITEM_SHA).to_pylist()
        yield from zip(iter_item_texts(batch), recorded, strict=True)


def _change_rows(path: Path) -> Iterator[tuple[str | None, str | None]]:
    """(``_new`` text, ``_new_sha256``) for every change row (None for REMOVE rows)."""
    parquet = pq.ParquetFile(path, page_checksum_verification=True)
    for batch in parquet.iter_batches(columns=["_new", "_new_sha256"], batch_size=8192):
        texts = batch.column("_new").storage.to_pylist()
        yield from zip(texts, batch.column("_new_sha256").to_pylist(), strict=True)


def _check_one(io: FileIO, key: str, part: PartInfo, result: VerifyResult,
               changes: bool) -> tuple[PartInfo, RowDigest | None, VerifyResult]:
    sink = VerifyResult(result.table, result.id)
    return part, _deep_part(io, key, part, sink, _change_rows if changes else _snapshot_rows), sink


@dataclass(frozen=True)
class PartCheck:
    """One part's deep check as a unit: everything a worker elsewhere needs."""

    lake: str
    profile: str | None
    region: str | None
    key: str
    part: PartInfo
    table: str
    id: str
    changes: bool


def check_part_unit(task: PartCheck, kit: Kit) -> tuple[PartInfo, RowDigest | None,
                                                        VerifyResult]:
    def lake() -> FileIO:
        from lake.aws import make_session

        s3 = task.lake.startswith("s3://")
        return load_file_io(task.lake, session=make_session(task.profile, task.region)
                            if s3 else None)

    io: FileIO = kit.cached("lake", lake)
    return _check_one(io, task.key, task.part, VerifyResult(task.table, task.id), task.changes)


@dataclass(frozen=True)
class Distributed:
    """Deep checks as units on an executor (``verify --deep --engine ray``): each part is
    downloaded and hashed where its unit runs; ``profile``/``region`` for their clients."""

    executor: Executor
    profile: str | None = None
    region: str | None = None

    def run(self, io: FileIO, readable: list[tuple[str, PartInfo]], result: VerifyResult,
            changes: bool) -> Iterator[tuple[PartInfo, RowDigest | None, VerifyResult]]:
        tasks = [PartCheck(io.uri, self.profile, self.region, key, part, result.table,
                           result.id, changes) for key, part in readable]
        return self.executor.map(check_part_unit, tasks, preload=("lake.verify",),
                                 seeds={"lake": io})


def verify_change_batch(io: FileIO, table: str, key: str, *, deep: bool = False,
                        listener: ProgressListener | None = None, workers: int = DEEP_WORKERS,
                        distributed: Distributed | None = None) -> VerifyResult:
    """Verify one committed change batch given its manifest key. Rows are counted; digests
    cover the rows with a new image (REMOVE rows have none)."""
    listener = listener or NullListener()
    batch_id = key.rsplit("/", 1)[-1].removesuffix(".json")
    result = VerifyResult(table, batch_id, what="changes", deep=deep)
    try:
        batch = parse_change_batch(io.read(key), what=io.full_uri(key))
    except ManifestError as e:
        result.add("manifest", key, e.message)
        return result
    result.items = batch.rows
    digest = _check_parts(io, layout.table_prefix(table), batch.parts, result, deep,
                          listener, rows_of=_change_rows, workers=workers,
                          distributed=distributed)
    if deep and digest is not None and digest.rows != batch.rows:
        result.add("corrupt", key, f"{digest.rows} rows found, manifest says {batch.rows}")
    return result


def locate(io: FileIO, snapshot: str, table: str | None = None) -> tuple[str, str]:
    """(table, snapshot id) of ``latest`` or an id, without parsing the manifest (so that a
    damaged manifest can still be verified and reported)."""
    if snapshot == "latest":
        name = catalog.single_table(io, table)
        ids = catalog.snapshot_ids(io, name)
        if not ids:
            raise NotFoundError(f"table {name} has no committed snapshot in {io.uri}")
        return name, ids[-1]
    if not layout.is_id(snapshot):
        raise UsageError(f"{snapshot!r} is not a snapshot id",
                         hint="ids look like 20261122T130501Z-1a2b3c4d; or use `latest`")
    for name in [table] if table else catalog.list_tables(io):
        if io.exists(layout.snapshot_manifest(name, snapshot)):
            return name, snapshot
    raise NotFoundError(f"snapshot {snapshot} is not in {io.uri}",
                        hint=f"list snapshots with `ddblake snapshots --lake {io.uri}`")


def verify_table(io: FileIO, table: str, *, deep: bool = False, changes: bool = True,
                 listener: ProgressListener | None = None, workers: int = DEEP_WORKERS,
                 distributed: Distributed | None = None) -> list[VerifyResult]:
    """Every committed snapshot of ``table`` (and its change batches)."""
    results = [verify_snapshot(io, table, sid, deep=deep, listener=listener, workers=workers,
                               distributed=distributed)
               for sid in catalog.snapshot_ids(io, table)]
    if changes:
        results += [verify_change_batch(io, table, info.key, deep=deep, listener=listener,
                                        workers=workers, distributed=distributed)
                    for info in io.iter_objects(layout.change_manifests_prefix(table))
                    if info.key.endswith(".json")]
    return results


def verify_lake(io: FileIO, table: str | None = None, *, deep: bool = False,
                changes: bool = True, listener: ProgressListener | None = None,
                workers: int = DEEP_WORKERS,
                distributed: Distributed | None = None) -> list[VerifyResult]:
    """Every committed snapshot and change batch of one table or of the whole lake."""
    tables = [table] if table else catalog.list_tables(io)
    return [r for t in tables for r in verify_table(io, t, deep=deep, changes=changes,
                                                    listener=listener, workers=workers,
                                                    distributed=distributed)]
