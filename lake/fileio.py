"""One small storage interface for a local folder and for S3, chosen by URI scheme.

Keys are relative to the lake root. Data parts are immutable and written first
(:meth:`FileIO.put_file`); commit objects are created with :meth:`FileIO.create`, which
refuses to overwrite (``If-None-Match: *`` on S3, a hard link on a local disk), so two
writers can never both commit the same name and a reader never sees half an object.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from schemas.errors import (
    AlreadyExistsError,
    ArchivedError,
    NotFoundError,
    StorageError,
    UnsafeNameError,
)

# S3 storage classes ddblake writes to or archives into (``STANDARD`` first).
STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                   "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")

@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime
    storage_class: str = "STANDARD"
    restore: str | None = None


@dataclass(frozen=True)
class WriteOptions:
    """Extra settings for objects written to S3 (ignored by local folders)."""

    storage_class: str | None = None
    kms_key: str | None = None
    lock_mode: str | None = None
    lock_until: datetime | None = None
    tags: tuple[tuple[str, str], ...] = ()

    def s3_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.storage_class:
            args["StorageClass"] = self.storage_class
        if self.kms_key:
            args["ServerSideEncryption"] = "aws:kms"
            args["SSEKMSKeyId"] = self.kms_key
        if self.lock_mode and self.lock_until:
            args["ObjectLockMode"] = self.lock_mode
            args["ObjectLockRetainUntilDate"] = self.lock_until
        if self.tags:
            from urllib.parse import urlencode

            args["Tagging"] = urlencode(self.tags)
        return args

    def with_tag(self, key: str, value: str) -> WriteOptions:
        """These options plus one object tag (S3 lifecycle rules filter data parts by tag)."""
        from dataclasses import replace

        return replace(self, tags=(*[t for t in self.tags if t[0] != key], (key, value)))


def confined(key: str) -> str:
    """``key`` when it stays inside the lake root, else UnsafeNameError (exit 4).

    The last line of defence: keys are built by ``lake.layout`` from checked names, and
    listings only return keys inside the lake. A key must be relative and no segment may be
    ``.`` or ``..`` (a local path would leave the root; some S3 tools normalize them) or hold
    a NUL or a backslash. ``""`` is the root and a trailing ``/`` makes a prefix."""
    body = key[:-1] if key.endswith("/") else key
    if key and (not body or body.startswith("/") or "\0" in key or "\\" in key
                or any(s in ("", ".", "..") for s in body.split("/"))):
        raise UnsafeNameError(f"the key {key!r} would leave the lake",
                              hint="a hostile or damaged lake document named it; nothing was "
                                   "read or written there")
    return key


class FileIO(ABC):
    """Storage for a lake. ``uri`` is the lake root as a user writes it. Every key is checked
    by :func:`confined` before it is used."""

    uri: str

    def full_uri(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{confined(key)}"

    @abstractmethod
    def read(self, key: str) -> bytes: ...

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Write or replace (state files and checkpoints only)."""

    @abstractmethod
    def create(self, key: str, data: bytes) -> None:
        """Create ``key`` atomically; AlreadyExistsError if it exists (commits, locks)."""

    @abstractmethod
    def put_file(self, key: str, local_path: Path, options: WriteOptions | None = None) -> None:
        """Upload an immutable data file (multipart when large)."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order."""

    @abstractmethod
    def list_dirs(self, prefix: str) -> list[str]:
        """The names of the immediate 'folders' below ``prefix`` (which ends with ``/``)."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    def get_file(self, key: str, local_path: Path) -> None:
        local_path.write_bytes(self.read(key))

    def iter_chunks(self, key: str, size: int = 1 << 20) -> Iterator[bytes]:
        """The object's bytes in pieces of at most ``size`` (bounded memory); NotFoundError
        when it is absent."""
        data = self.read(key)
        for start in range(0, len(data), size):
            yield data[start:start + size]


class LocalFileIO(FileIO):
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / confined(key)

    def full_uri(self, key: str) -> str:
        return str(self._path(key))

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as e:
            raise NotFoundError(f"{self.full_uri(key)} does not exist") from e
        except OSError as e:
            raise StorageError(f"cannot read {self.full_uri(key)}: {e}") from e

    def _temp(self, key: str) -> Path:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot create {target.parent}: {e}",
                               hint="check that the lake folder is writable, or pick "
                                    "another --lake") from e
        fd, name = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        os.close(fd)
        return Path(name)

    def _write_temp(self, key: str, data: bytes) -> Path:
        temp = self._temp(key)
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return temp

    def write(self, key: str, data: bytes) -> None:
        os.replace(self._write_temp(key, data), self._path(key))

    def create(self, key: str, data: bytes) -> None:
        temp = self._write_temp(key, data)
        try:
            os.link(temp, self._path(key))
        except FileExistsError as e:
            raise AlreadyExistsError(f"{self.full_uri(key)} already exists") from e
        finally:
            temp.unlink(missing_ok=True)

    def put_file(self, key: str, local_path: Path, options: WriteOptions | None = None) -> None:
        temp = self._temp(key)
        shutil.copyfile(local_path, temp)
        os.replace(temp, self._path(key))

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self._path(prefix) if prefix.endswith("/") else self._path(prefix).parent
        if not base.is_dir():
            return
        found = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        for key in sorted(found):
            info = self.stat(key)
            if info is not None:
                yield info

    def list_dirs(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir())

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self._path(key).parent.rmdir()

    def get_file(self, key: str, local_path: Path) -> None:
        shutil.copyfile(self._path(key), local_path)

    def iter_chunks(self, key: str, size: int = 1 << 20) -> Iterator[bytes]:
        try:
            with open(self._path(key), "rb") as f:
                yield from iter(lambda: f.read(size), b"")
        except FileNotFoundError as e:
            raise NotFoundError(f"{self.full_uri(key)} does not exist") from e
        except OSError as e:
            raise StorageError(f"cannot read {self.full_uri(key)}: {e}") from e


@dataclass
class S3Location:
    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """``s3://bucket/prefix``; UsageError (exit 2) for a bad bucket name or prefix."""
        from schemas.errors import UsageError

        rest = uri[len("s3://"):]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise UsageError(f"{uri!r} names no bucket", hint="write s3://BUCKET/PREFIX")
        check_bucket_name(bucket)
        prefix = prefix.strip("/")
        if prefix and any(s in ("", ".", "..") for s in prefix.split("/")):
            raise UsageError(f"{uri!r} has an empty, '.' or '..' folder in its prefix",
                             hint="write s3://BUCKET/PREFIX with plain folder names")
        return cls(bucket, prefix)


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")


def check_bucket_name(bucket: str) -> str:
    """S3's naming rules for general purpose buckets: 3-63 characters of lowercase letters,
    digits, ``.`` and ``-``, starting and ending with a letter or digit, no ``..``, not an
    IP address, none of the reserved prefixes and suffixes. UsageError (exit 2) otherwise."""
    from schemas.errors import UsageError

    if (not _BUCKET.fullmatch(bucket) or ".." in bucket or _IPV4.fullmatch(bucket)
            or bucket.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
            or bucket.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3"))):
        raise UsageError(f"{bucket!r} is not a valid S3 bucket name",
                         hint="bucket names are 3-63 characters of lowercase letters, digits, "
                              "'.' and '-', starting and ending with a letter or digit; "
                              "check the --lake URI (s3://BUCKET/PREFIX)")
    return bucket


@dataclass
class S3FileIO(FileIO):
    location: S3Location
    client: Any
    multipart_threshold: int = 64 * 1024 * 1024
    options: WriteOptions = field(default_factory=WriteOptions)

    def __post_init__(self) -> None:
        base = f"s3://{self.location.bucket}"
        self.uri = f"{base}/{self.location.prefix}" if self.location.prefix else base

    def _key(self, key: str) -> str:
        key = confined(key)
        return f"{self.location.prefix}/{key}" if self.location.prefix else key

    def _unkey(self, s3_key: str) -> str:
        return s3_key[len(self.location.prefix) + 1:] if self.location.prefix else s3_key

    def _fail(self, error: Exception, action: str, key: str) -> Exception:
        from botocore.exceptions import ClientError

        from lake.aws import error_code, translate

        if isinstance(error, ClientError) and error_code(error) == "InvalidObjectState":
            return ArchivedError(f"{self.full_uri(key)} is in a cold storage class",
                                 hint="run `ddblake thaw` for its snapshot first")
        return translate(error, action=action, resource=self.full_uri(key))

    def read(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.location.bucket, Key=self._key(key))
            return bytes(response["Body"].read())
        except (ClientError, BotoCoreError) as e:
            raise self._fail(e, "read", key) from e

    def _put(self, key: str, data: bytes, **extra: Any) -> None:
        self.client.put_object(Bucket=self.location.bucket, Key=self._key(key), Body=data,
                               ChecksumAlgorithm="SHA256", **extra)

    def write(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._put(key, data, **self._commit_args())
        except (ClientError, BotoCoreError) as e:
            raise self._fail(e, "write", key) from e

    def _commit_args(self) -> dict[str, Any]:
        # Manifests and state stay in STANDARD so the catalog stays readable.
        args = self.options.s3_args()
        args.pop("StorageClass", None)
        args.pop("ObjectLockMode", None)
        args.pop("ObjectLockRetainUntilDate", None)
        args.pop("Tagging", None)
        return args

    def create(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from lake.aws import error_code

        try:
            self._put(key, data, IfNoneMatch="*", **self._commit_args())
        except ClientError as e:
            if error_code(e) in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                raise AlreadyExistsError(f"{self.full_uri(key)} already exists") from e
            raise self._fail(e, "create", key) from e
        except BotoCoreError as e:
            raise self._fail(e, "create", key) from e

    def put_file(self, key: str, local_path: Path, options: WriteOptions | None = None) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {"ChecksumAlgorithm": "SHA256", **(options or self.options).s3_args()}
        config = TransferConfig(multipart_threshold=self.multipart_threshold,
                                multipart_chunksize=16 * 1024 * 1024, use_threads=True)
        try:
            self.client.upload_file(str(local_path), self.location.bucket, self._key(key),
                                    ExtraArgs=extra, Config=config)
        except (ClientError, BotoCoreError) as e:
            raise self._fail(e, "upload", key) from e
        except Exception as e:  # s3transfer wraps client errors in S3UploadFailedError
            raise StorageError(f"cannot upload {self.full_uri(key)}: {e}") from e

    def stat(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import BotoCoreError, ClientError

        from lake.aws import error_code

        try:
            head = self.client.head_object(Bucket=self.location.bucket, Key=self._key(key))
        except ClientError as e:
            if error_code(e) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail(e, "stat", key) from e
        except BotoCoreError as e:
            raise self._fail(e, "stat", key) from e
        return ObjectInfo(key, int(head["ContentLength"]), head["LastModified"],
                          head.get("StorageClass") or "STANDARD", head.get("Restore"))

    def iter_objects(self, prefix: str) -> Iterator[ObjectInfo]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self._key(prefix)):
                for obj in page.get("Contents", []):
                    yield ObjectInfo(self._unkey(obj["Key"]), int(obj["Size"]),
                                     obj["LastModified"], obj.get("StorageClass") or "STANDARD")
        except (ClientError, BotoCoreError) as e:
            raise self._fail(e, "list", prefix) from e

    def list_dirs(self, prefix: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        names = []
        try:
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self._key(prefix),
                                           Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    names.append(common["Prefix"].rstrip("/").rsplit("/", 1)[-1])
        except (ClientError, BotoCoreError) as e:
            raise self._fail(e, "list", prefix) from e
        return sorted(names)

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.location.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as e:
            raise self._fail(e, "delete", key) from e

    def get_file(self, key: str, local_path: Path) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.download_file(self.location.bucket, self._key(key), str(local_path))
        except (ClientError, BotoCoreError) as e:
            raise self._fail(e, "download", key) from e

    def iter_chunks(self, key: str, size: int = 1 << 20) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.location.bucket, Key=self._key(key))
            yield from response["Body"].iter_chunks(size)
        except (ClientError, BotoCoreError) as e:
            raise self._fail(e, "download", key) from e


def load_file_io(uri: str, *, session: Any = None, s3_client: Any = None,
                 options: WriteOptions | None = None) -> FileIO:
    """The FileIO for a lake URI: ``s3://bucket/prefix`` or a local path."""
    if uri.startswith("s3://"):
        if s3_client is None:
            from lake.aws import make_client

            s3_client = make_client("s3", session)
        return S3FileIO(S3Location.parse(uri), s3_client, options=options or WriteOptions())
    if "://" in uri:
        from schemas.errors import UsageError

        raise UsageError(f"unsupported lake URI {uri!r}",
                         hint="use s3://BUCKET/PREFIX or a local folder path")
    return LocalFileIO(uri)
