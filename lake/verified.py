"""Verified local copies of lake parts: nothing is read for a restore that was not checked.

A restore (and a drill, which restores) reads its selection from local files that were
streamed from the lake while being hashed, and kept only when their size and sha256 equal
what the manifest that lists them recorded. So:

* a damaged or replaced part is refused (CorruptDataError, exit 4, naming the part) before
  any item is selected, and nothing of it is ever written;
* a deleted part is MissingDataError (exit 5) naming the part;
* the DuckDB connection that evaluates the selection (and the user's ``--where``) reads only
  local files: it needs no httpfs, no ``CREATE SECRET``, no credentials at all.

:class:`VerifiedLake` is a read-only :class:`~lake.fileio.FileIO` over a lake: manifests are
read from the lake as usual, and every snapshot manifest and change-batch manifest read
through it registers the parts it lists with their recorded size and sha256. The key of such
a part then resolves (:meth:`VerifiedLake.full_uri`) to a file in a private temporary folder,
which :meth:`VerifiedLake.fetch` fills with verified bytes. A part is resolved from the same
manifest bytes the selection code parsed. Local lakes are copied too (not hashed in place),
so a file changed after it was hashed is never read: the copy is what was hashed.

Costs: the temporary folder holds the selected parts (their Parquet bytes; the restore's
spool already needs more than that), memory is one chunk per part being fetched.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lake import layout
from lake.fileio import FileIO, ObjectInfo, WriteOptions
from lake.progress import NullListener, ProgressListener
from runtime.threads import bounded_map
from schemas.changes import parse_change_batch
from schemas.errors import (
    ArchivedError,
    AwsError,
    CorruptDataError,
    CredentialsError,
    DdbLakeError,
    ManifestError,
    MissingDataError,
    NotFoundError,
    StorageError,
)
from schemas.manifest import PartInfo, parse_manifest

CHUNK = 1 << 20
WORKERS = 4
ATTEMPTS = 3  # a download cut short is tried again; a hash mismatch is not


@dataclass(frozen=True)
class Expected:
    """What the manifest ``owner`` (``snapshot <id>`` or ``change batch <id>``) recorded."""

    key: str
    bytes: int
    sha256: str
    owner: str
    rows: int = 0

    @classmethod
    def of(cls, key: str, part: PartInfo, owner: str) -> Expected:
        return cls(key, part.bytes, part.sha256, owner, part.rows)


def fetch_verified(io: FileIO, expected: Expected, dest: Path,
                   on_bytes: Callable[[int], None] | None = None, *,
                   action: str = "restore") -> None:
    """Stream ``expected.key`` into ``dest`` while hashing it; ``dest`` exists afterwards
    only when size and sha256 match (CorruptDataError otherwise, MissingDataError when the
    part is absent). A download cut short is tried again up to ``ATTEMPTS`` times.
    ``on_bytes`` hears of every chunk (and may raise to stop the download); ``action``
    names what is refused in messages."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _fetch_once(io, expected, dest, on_bytes, action)
            return
        except AwsError as e:  # a stream cut short or a transient refusal
            if attempt == ATTEMPTS or isinstance(e, CredentialsError):
                raise


def _fetch_once(io: FileIO, expected: Expected, dest: Path,
                on_bytes: Callable[[int], None] | None, action: str) -> None:
    temp = dest.with_name(dest.name + ".partial")
    digest, size = hashlib.sha256(), 0
    try:
        with open(temp, "wb") as out:
            for chunk in io.iter_chunks(expected.key, CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if size > expected.bytes:
                    break  # longer than recorded: no need to read the rest
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
        if (size, digest.hexdigest()) != (expected.bytes, expected.sha256):
            raise _mismatch(io, expected, size, action)
        temp.replace(dest)
    except NotFoundError as e:
        raise MissingDataError(f"part {io.full_uri(expected.key)} of {expected.owner} is "
                               f"missing; refusing to {action} without it",
                               hint=_hint(io, expected, "a part was deleted")) from e
    except ArchivedError as e:
        raise ArchivedError(f"part {io.full_uri(expected.key)} of {expected.owner} is in a "
                            "cold storage class and not thawed",
                            hint=f"thaw it first: ddblake thaw SNAPSHOT --lake {io.uri} "
                                 "--wait") from e
    finally:
        temp.unlink(missing_ok=True)


def hash_object(io: FileIO, key: str) -> tuple[int, str]:
    """(size, sha256) of the stored bytes of ``key``, streamed (nothing kept)."""
    digest, size = hashlib.sha256(), 0
    for chunk in io.iter_chunks(key, CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _mismatch(io: FileIO, expected: Expected, size: int, action: str) -> CorruptDataError:
    if size > expected.bytes:
        how = f"longer than the {expected.bytes} bytes recorded"
    elif size < expected.bytes:
        how = f"{size} bytes, the manifest records {expected.bytes}"
    else:
        how = "its sha256 differs from the manifest's"
    return CorruptDataError(f"part {io.full_uri(expected.key)} of {expected.owner} does not "
                            f"match its manifest ({how}); refusing to {action} it: nothing "
                            "of it was written",
                            hint=_hint(io, expected, "the stored bytes were damaged or "
                                                     "replaced"))


def _hint(io: FileIO, expected: Expected, what: str) -> str:
    kind, _, ident = expected.owner.partition(" ")
    check = (f"ddblake verify {ident} --lake {io.uri} --deep" if kind == "snapshot"
             else f"ddblake verify --all --lake {io.uri} --deep")
    return (f"{what}; run `{check}` to list every problem, and restore from another "
            "snapshot or a copy of the lake")


class VerifiedLake(FileIO):
    """A read-only view of ``inner`` whose data parts resolve to verified local copies
    (see the module documentation). Use as a context manager, or call :meth:`close`."""

    def __init__(self, inner: FileIO, *, workers: int = WORKERS) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.workers = max(1, workers)
        self.root = Path(tempfile.mkdtemp(prefix="ddblake-verified-"))
        self._expected: dict[str, Expected] = {}
        self._conflicts: set[str] = set()
        self._wanted: dict[str, Path] = {}
        self._verified: set[Path] = set()
        self._lock = threading.Lock()

    # -- registering what manifests list ---------------------------------------------------

    def read(self, key: str) -> bytes:
        data = self.inner.read(key)
        self._learn(key, data)
        return data

    def _learn(self, key: str, data: bytes) -> None:
        """Register the parts of a snapshot or change-batch manifest (anything else, or a
        manifest that does not parse, registers nothing: its reader will refuse it)."""
        if not key.endswith(".json"):
            return
        try:
            manifest = parse_manifest(data)
        except ManifestError:
            pass
        else:
            owner = f"snapshot {manifest.snapshot_id}"
            self._expect((layout.snapshot_part(manifest.table, manifest.snapshot_id, p.path),
                          p, owner) for p in manifest.parts)
            return
        try:
            batch = parse_change_batch(data)
        except ManifestError:
            return
        self._expect((layout.table_key(batch.table, p.path), p, f"change batch "
                      f"{batch.batch_id}") for p in batch.parts)

    def _expect(self, parts: Iterable[tuple[str, PartInfo, str]]) -> None:
        with self._lock:
            for key, part, owner in parts:
                new = Expected.of(key, part, owner)
                old = self._expected.setdefault(key, new)
                if (old.bytes, old.sha256) != (new.bytes, new.sha256):
                    self._conflicts.add(key)

    def full_uri(self, key: str) -> str:
        """For a part listed by a manifest read through this view: the local file that will
        hold its verified copy (filled by :meth:`fetch`). Anything else: the lake's URI."""
        with self._lock:
            if key not in self._expected:
                return self.inner.full_uri(key)
            path = self._wanted.get(key)
            if path is None:
                path = self.root / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}.parquet"
                self._wanted[key] = path
            return str(path)

    def resolved(self) -> dict[str, int]:
        """The lake keys of the parts resolved so far (what :meth:`fetch` would fetch), with
        the rows their manifests record: a restore plans its units from this without
        fetching anything."""
        with self._lock:
            return {key: self._expected[key].rows for key in sorted(self._wanted)}

    def lake_uri(self, path: str) -> str:
        """The lake URI of the part whose verified copy is ``path`` (for messages; ``path``
        itself when it is no such copy)."""
        with self._lock:
            key = next((k for k, p in self._wanted.items() if str(p) == str(path)), None)
        return path if key is None else self.inner.full_uri(key)

    # -- fetching --------------------------------------------------------------------------

    def fetch(self, listener: ProgressListener | None = None) -> int:
        """Fetch and verify every part resolved so far (``workers`` at a time); return the
        bytes fetched. The first CorruptDataError/MissingDataError stops the others and is
        raised."""
        listener = listener or NullListener()
        todo = [(self._checked(key), path) for key, path in sorted(self._wanted.items())
                if path not in self._verified]
        if not todo:
            return 0
        task = "verify parts"
        listener.started(task, total=sum(e.bytes for e, _ in todo), unit="bytes")
        stop = threading.Event()
        errors: list[BaseException] = []

        def one(item: tuple[Expected, Path]) -> Expected:
            expected, path = item
            try:
                fetch_verified(self.inner, expected, path, lambda _n: _stop_if(stop))
            except _Stopped:
                raise
            except BaseException as e:  # the first real error stops the other downloads
                with self._lock:
                    errors.append(e)
                stop.set()
                raise
            with self._lock:
                self._verified.add(path)
            return expected

        try:
            for expected in bounded_map(one, todo, min(self.workers, len(todo))):
                listener.advanced(task, expected.bytes, bytes=expected.bytes)
        except BaseException:
            if errors:  # not a download that stopped because another one failed
                raise errors[0] from None
            raise
        finally:  # after an error or Ctrl-C, downloads still running stop at a chunk
            stop.set()
            listener.finished(task)
        return sum(e.bytes for e, _ in todo)

    def _checked(self, key: str) -> Expected:
        if key in self._conflicts:
            raise CorruptDataError(f"part {self.inner.full_uri(key)} is listed by two "
                                   "manifests with different sizes or checksums; refusing "
                                   "to read it",
                                   hint="one of the manifests was altered; run `ddblake "
                                        f"verify --all --lake {self.uri}`")
        return self._expected[key]

    def require_verified(self, paths: Iterable[str]) -> None:
        """Refuse (CorruptDataError) when any of ``paths`` is not a verified local copy: a
        reader asked for a file that no manifest read through this view lists."""
        for path in paths:
            if Path(path) not in self._verified:
                raise CorruptDataError(f"{path} was not verified against a manifest; "
                                       "refusing to read it",
                                       hint="report this as a bug of ddblake")

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> VerifiedLake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- everything else is the lake's, read-only ------------------------------------------

    def stat(self, key: str) -> ObjectInfo | None:
        return self.inner.stat(key)

    def iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        return self.inner.iter_objects(prefix)

    def list_dirs(self, prefix: str) -> list[str]:
        return self.inner.list_dirs(prefix)

    def write(self, key: str, data: bytes) -> None:
        raise _read_only(key)

    def create(self, key: str, data: bytes) -> None:
        raise _read_only(key)

    def put_file(self, key: str, local_path: Path, options: WriteOptions | None = None) -> None:
        raise _read_only(key)

    def delete(self, key: str) -> None:
        raise _read_only(key)


class _Stopped(Exception):
    """Another part failed; this download stops early."""


def _stop_if(stop: threading.Event) -> None:
    if stop.is_set():
        raise _Stopped


def _read_only(key: str) -> DdbLakeError:
    return StorageError(f"cannot change {key}: a verified view of a lake is read-only")
