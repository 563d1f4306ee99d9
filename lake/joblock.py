"""One run at a time per job: the lock an export or a restore holds on its state.

An export (one snapshot id) or a restore (one restore id) is a *job*; every run of it, the
first and each ``--resume``, holds the job's lock from before it writes any state until it
ends. A second run of the same job is refused with :class:`BusyError` (exit 10) naming the
holder; once the holder ends or dies, the job can be resumed again.

- **Local lake: ``flock(2)``** on ``lock.json`` in the job's state folder. The kernel drops
  the lock when the holding process ends, however it ends (SIGKILL and OOM included), so no
  stale-owner rule is needed and none can be wrong: no PID reuse, no clock, no race between
  two runs that both judge a dead owner's lock stale and break it. The file also records the
  owner (host, PID, since when) for the refusal message. NFS shares the lock between hosts
  (the Linux client maps flock to NFS locks); a file system without locks is refused.
- **S3 lake: a lease object.** Created with ``If-None-Match: *``; the holder renews it every
  ``ttl/4`` with ``If-Match: <its ETag>`` from a background thread. A lease is stale when it
  was released, or when S3's own clock (the ``Date`` of the read minus the object's
  ``LastModified``) says it was not renewed for its ``ttl``: then the next run takes it over
  with ``If-Match`` on the stale ETag, so of two runs that both see it stale only one wins.
  A holder that cannot renew for ``ttl`` (measured from before its last successful renewal,
  so it gives up no later than anyone may take over) counts the lease as lost, and
  :meth:`JobLock.check` raises before it commits anything.

Workers hold no lock of their own: they must end with the run that started them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from lake.fileio import FileIO, LocalFileIO, S3FileIO
from schemas.errors import BusyError, DdbLakeError, StorageError

LOCK_NAME = "lock.json"
LEASE_SECONDS = 60.0
_PRECONDITION = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412",
                           "NoSuchKey", "404"})


@dataclass(frozen=True)
class Owner:
    """Who holds a job: for the refusal message (and the S3 lease's fencing token)."""

    command: str
    host: str
    pid: int
    since: str
    token: str

    @classmethod
    def current(cls, command: str) -> Owner:
        return cls(command, socket.gethostname(), os.getpid(),
                   datetime.now(UTC).isoformat(timespec="seconds"), os.urandom(8).hex())

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def parse(cls, data: bytes) -> Owner | None:
        """The owner a lock file or lease names; None when unreadable (a torn write)."""
        try:
            d = orjson.loads(data)["owner"]
            return cls(str(d["command"]), str(d["host"]), int(d["pid"]), str(d["since"]),
                       str(d["token"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    def describe(self) -> str:
        return f"ddblake {self.command} (pid {self.pid} on host {self.host}, since {self.since})"


class JobLock(ABC):
    """A held lock; release it (or use ``with``) when the run ends."""

    def __init__(self, key: str, job: str, owner: Owner) -> None:
        self.key, self.job, self.owner = key, job, owner

    @abstractmethod
    def release(self, *, delete: bool = False) -> None:
        """Let the next run have the job; ``delete`` removes the lock object too (for a job
        whose state is gone, e.g. a committed export)."""

    @abstractmethod
    def check(self) -> None:
        """Raise BusyError if the lock was lost (an S3 lease not renewed in time)."""

    def __enter__(self) -> JobLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def lock_key(state_dir: str) -> str:
    """The lock of the job whose state lives under ``state_dir`` (ending in ``/``)."""
    return f"{state_dir.rstrip('/')}/{LOCK_NAME}"


def acquire(io: FileIO, key: str, *, job: str, command: str,
            ttl_s: float = LEASE_SECONDS) -> JobLock:
    """Take the lock at ``key`` for ``job`` or raise BusyError naming who holds it."""
    owner = Owner.current(command)
    if isinstance(io, LocalFileIO):
        return _acquire_local(io, key, job, owner)
    if isinstance(io, S3FileIO):
        return _acquire_s3(io, key, job, owner, ttl_s)
    raise TypeError(f"no job lock for {type(io).__name__}")


def _busy(job: str, holder: Owner | None, where: str, extra: str = "") -> BusyError:
    who = holder.describe() if holder else "another run"
    return BusyError(f"{job} is already being run by {who}{extra}; not starting a second "
                     "run of it",
                     hint=f"wait for that run to end (or stop it), then re-run with --resume; "
                          f"its lock is {where}")


def _body(owner: Owner, state: str, ttl_s: float | None = None) -> bytes:
    data: dict[str, Any] = {"kind": "ddblake-lock", "state": state, "owner": owner.to_dict()}
    if ttl_s is not None:
        data["ttl_s"] = ttl_s
    return orjson.dumps(data)


# ----------------------------------------------------------------------------- local: flock

class LocalLock(JobLock):
    def __init__(self, key: str, job: str, owner: Owner, path: Path, fd: int) -> None:
        super().__init__(key, job, owner)
        self.path = path
        self._fd: int | None = fd

    def check(self) -> None:
        """A flock lasts as long as its process (and its open file)."""

    def release(self, *, delete: bool = False) -> None:
        if self._fd is None:
            return
        if delete:  # unlink while still holding it: a waiting opener re-checks the inode
            self.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()
        os.close(self._fd)
        self._fd = None


def _acquire_local(io: LocalFileIO, key: str, job: str, owner: Owner) -> LocalLock:
    import fcntl

    path = Path(io.full_uri(key))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StorageError(f"cannot create {path.parent}: {e}",
                           hint="check that the lake folder is writable") from e
    for _ in range(10):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Owner.parse(os.pread(fd, 65_536, 0))
            os.close(fd)
            raise _busy(job, holder, str(path)) from None
        except OSError as e:
            os.close(fd)
            raise StorageError(f"cannot lock {path}: {e}",
                               hint="keep the lake on a file system with flock(2) support "
                                    "(local disks, NFS) or on S3") from e
        if _same_file(fd, path):
            data = _body(owner, "held")
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            return LocalLock(key, job, owner, path, fd)
        os.close(fd)  # its holder deleted it between our open and our lock: open it again
    raise StorageError(f"cannot lock {path}: it keeps being replaced",
                       hint="another program is deleting the lake's state; stop it")


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


# ----------------------------------------------------------------------------- S3: a lease

class _Lost(Exception):
    """A conditional write found the lease changed or gone."""


def _put(io: S3FileIO, key: str, data: bytes, **condition: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import error_code, translate

    try:
        response = io.client.put_object(Bucket=io.location.bucket, Key=io._key(key), Body=data,
                                        **condition, **io._commit_args())
    except ClientError as e:
        if error_code(e) in _PRECONDITION:
            raise _Lost(error_code(e)) from e
        raise translate(e, action="write the lock", resource=io.full_uri(key)) from e
    except BotoCoreError as e:
        raise translate(e, action="write the lock", resource=io.full_uri(key)) from e
    return str(response["ETag"])


@dataclass(frozen=True)
class _Seen:
    etag: str
    holder: Owner | None
    held: bool
    age_s: float
    ttl_s: float


def _read(io: S3FileIO, key: str) -> _Seen | None:
    """The lease as S3 holds it, with its age by S3's clock; None when it is gone."""
    from botocore.exceptions import BotoCoreError, ClientError

    from lake.aws import error_code, translate

    try:
        response = io.client.get_object(Bucket=io.location.bucket, Key=io._key(key))
        data = bytes(response["Body"].read())
    except ClientError as e:
        if error_code(e) in ("NoSuchKey", "404"):
            return None
        raise translate(e, action="read the lock", resource=io.full_uri(key)) from e
    except BotoCoreError as e:
        raise translate(e, action="read the lock", resource=io.full_uri(key)) from e
    date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    now = parsedate_to_datetime(date) if date else datetime.now(UTC)
    age = (now - response["LastModified"]).total_seconds()
    try:
        d = orjson.loads(data)
        held, ttl = d.get("state") == "held", float(d.get("ttl_s", LEASE_SECONDS))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        held, ttl = True, LEASE_SECONDS  # unreadable: stale only by age
    return _Seen(str(response["ETag"]), Owner.parse(data), held, age, ttl)


def _acquire_s3(io: S3FileIO, key: str, job: str, owner: Owner, ttl_s: float) -> S3Lease:
    body = _body(owner, "held", ttl_s)
    for _ in range(3):
        started = time.monotonic()
        try:
            return S3Lease(io, key, job, owner, ttl_s, _put(io, key, body, IfNoneMatch="*"),
                           started)
        except _Lost:
            pass
        seen = _read(io, key)
        if seen is None:
            continue  # released and deleted in between: create it again
        if seen.held and seen.age_s < seen.ttl_s:
            left = max(1, round(seen.ttl_s - seen.age_s))
            raise _busy(job, seen.holder, io.full_uri(key),
                        f"; if it died, its lease lapses within {left}s")
        started = time.monotonic()
        try:  # released or stale: take it over, unless another run just did
            return S3Lease(io, key, job, owner, ttl_s,
                           _put(io, key, body, IfMatch=seen.etag), started)
        except _Lost:
            raise _busy(job, None, io.full_uri(key)) from None
    raise _busy(job, None, io.full_uri(key))


class S3Lease(JobLock):
    def __init__(self, io: S3FileIO, key: str, job: str, owner: Owner, ttl_s: float,
                 etag: str, sent: float) -> None:
        super().__init__(key, job, owner)
        self.io, self.ttl_s, self.etag = io, ttl_s, etag
        self._sent = sent  # monotonic time before the last successful write was sent
        self._lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, daemon=True,
                                        name=f"ddblake-lease-{job}")
        self._thread.start()

    def _renew_loop(self) -> None:
        body = _body(self.owner, "held", self.ttl_s)
        while not self._stop.wait(self.ttl_s / 4):
            sent = time.monotonic()
            try:
                self.etag = _put(self.io, self.key, body, IfMatch=self.etag)
                self._sent = sent
            except _Lost:
                self._lost = True
                return
            except DdbLakeError:
                if time.monotonic() - self._sent >= self.ttl_s:
                    self._lost = True
                    return

    def lost(self) -> bool:
        return self._lost or time.monotonic() - self._sent >= self.ttl_s

    def check(self) -> None:
        if self.lost():
            raise BusyError(f"lost the lock on {self.job}: it was not renewed within "
                            f"{self.ttl_s:g}s, so another run may have taken the job over; "
                            "stopping before writing more state",
                            hint="check for another run of the same job; re-run with --resume "
                                 "when none is running")

    def release(self, *, delete: bool = False) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        if self.lost():
            return  # not ours any more (or soon not): leave it to whoever has it
        with contextlib.suppress(_Lost, DdbLakeError):
            if delete:
                self.io.delete(self.key)
            else:
                _put(self.io, self.key, _body(self.owner, "released"), IfMatch=self.etag)
