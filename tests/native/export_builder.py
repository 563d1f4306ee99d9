"""Builds native DynamoDB exports in the REAL layout (reference/anchors.md §2), for tests and
benchmarks. Nothing here is used by ddblake itself.

A "bucket" is anything with ``put(key, data)``: a local folder (keys below it) or an S3
bucket through a client. Keys in the manifests are full keys from the bucket root.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson

_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def _empty_gzip() -> bytes:
    # A 20-byte empty gzip stream, as DynamoDB writes for empty partitions.
    data = gzip.compress(b"", mtime=0)
    assert len(data) == 20
    return data


EMPTY_GZIP = _empty_gzip()


class Bucket(Protocol):
    def put(self, key: str, data: bytes) -> None: ...


class LocalBucket:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def uri(self, key: str = "") -> str:
        return str(self.root / key)


class S3Bucket:
    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)

    def uri(self, key: str = "") -> str:
        return f"s3://{self.name}/{key}"


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def etag(data: bytes) -> str:
    return hashlib.md5(hashlib.md5(data).digest()).hexdigest() + "-1"


def iso_ms(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def data_name(rng_token: bytes | None = None) -> str:
    raw = rng_token or secrets.token_bytes(26)
    return "".join(_B32[b % 32] for b in raw[:26]) + ".json.gz"


def export_id(start: datetime, *, incremental: bool = False) -> str:
    ms = int(start.timestamp() * 1000)
    if incremental:
        ms = ms // 1000 * 1000
    return f"{ms:014d}-{secrets.token_hex(4)}"


def gzip_lines(lines: Iterable[dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0) as gz:
        for line in lines:
            gz.write(orjson.dumps(line) + b"\n")
    return buffer.getvalue()


@dataclass
class BuiltExport:
    export_id: str
    export_arn: str
    prefix: str | None
    summary: dict[str, Any]
    files: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, bytes] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{self.prefix}/AWSDynamoDB" if self.prefix else "AWSDynamoDB"

    @property
    def export_dir(self) -> str:
        return f"{self.base}/{self.export_id}/"


@dataclass
class ExportBuilder:
    """Writes exports of one table into ``bucket``; ``bucket_name`` goes into the summary."""

    bucket: Bucket
    bucket_name: str = "my-backups"
    table: str = "Orders"
    region: str = "us-east-1"
    account: str = "111122223333"
    table_id: str = "4f1c2a9e-8d7b-4c3a-9e21-0b5d6c7e8f90"

    @property
    def table_arn(self) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{self.table}"

    def full(self, items: Iterable[dict[str, Any]], *, export_time: datetime,
             prefix: str | None = None, files: int = 4, empty: int = 3,
             items_per_file: int | None = None, fmt: str = "DYNAMODB_JSON",
             export_arn: str | None = None) -> BuiltExport:
        """Items are spread over ``files - empty`` populated files (or chunks of
        ``items_per_file``), plus ``empty`` 20-byte empty files."""
        eid = export_arn.rsplit("/", 1)[-1] if export_arn else export_id(export_time)
        built = self._start(eid, prefix, export_arn)
        chunks = _chunks(items, files - empty, items_per_file)
        for chunk in chunks:
            self._data_file(built, f"{built.export_dir}data/", [{"Item": i} for i in chunk])
        for _ in range(empty):
            self._data_file(built, f"{built.export_dir}data/", [])
        end = export_time + timedelta(minutes=6)
        built.summary = {
            "version": "2020-06-30", "exportArn": built.export_arn,
            "startTime": iso_ms(export_time), "endTime": iso_ms(end),
            "tableArn": self.table_arn, "tableId": self.table_id,
            "exportTime": iso_ms(export_time), "s3Bucket": self.bucket_name, "s3Prefix": prefix,
            "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None,
            "manifestFilesS3Key": f"{built.export_dir}manifest-files.json",
            "billedSizeBytes": 0, "itemCount": sum(f["itemCount"] for f in built.files),
            "outputFormat": fmt}
        return built

    def incremental(self, lines: list[dict[str, Any]], *, start: datetime, end: datetime,
                    prefix: str | None = None, files: int = 4, empty: int = 3,
                    view: str = "NEW_AND_OLD_IMAGES",
                    export_arn: str | None = None) -> BuiltExport:
        """``lines`` are full incremental lines (Metadata/Keys/NewImage/OldImage)."""
        eid = (export_arn.rsplit("/", 1)[-1] if export_arn
               else export_id(end + timedelta(minutes=1), incremental=True))
        built = self._start(eid, prefix, export_arn)
        for chunk in _chunks(lines, files - empty, None):
            self._data_file(built, f"{built.base}/data/", list(chunk))
        for _ in range(empty):
            self._data_file(built, f"{built.base}/data/", [])
        built.summary = {
            "version": "2023-08-01", "exportArn": built.export_arn,
            "startTime": iso_ms(end + timedelta(minutes=1)),
            "endTime": iso_ms(end + timedelta(minutes=6)),
            "tableArn": self.table_arn, "tableId": self.table_id,
            "exportFromTime": iso_ms(start), "exportToTime": iso_ms(end),
            "s3Bucket": self.bucket_name, "s3Prefix": prefix, "s3SseAlgorithm": "AES256",
            "s3SseKmsKeyId": None, "manifestFilesS3Key": f"{built.export_dir}manifest-files.json",
            "billedSizeBytes": 10000000, "itemCount": sum(f["itemCount"] for f in built.files),
            "outputFormat": "DYNAMODB_JSON", "outputView": view,
            "exportType": "INCREMENTAL_EXPORT"}
        return built

    def _start(self, eid: str, prefix: str | None, arn: str | None = None) -> BuiltExport:
        arn = arn or f"{self.table_arn}/export/{eid}"
        return BuiltExport(eid, arn, prefix, {})

    def _data_file(self, built: BuiltExport, folder: str, lines: list[dict[str, Any]]) -> None:
        data = gzip_lines(lines) if lines else EMPTY_GZIP
        key = folder + data_name()
        built.data[key] = data
        built.files.append({"itemCount": len(lines), "md5Checksum": b64md5(data),
                            "etag": etag(data), "dataFileS3Key": key})

    def write(self, built: BuiltExport, *, skip: Iterable[str] = ()) -> BuiltExport:
        """Upload data files (except ``skip``), then the manifests and their .md5 files."""
        skipped = set(skip)
        self.bucket.put(f"{built.export_dir}_started", b"")
        for key, data in built.data.items():
            if key not in skipped:
                self.bucket.put(key, data)
        files = b"".join(orjson.dumps(f) + b"\n" for f in built.files)
        summary = orjson.dumps(built.summary)
        self.bucket.put(f"{built.export_dir}manifest-files.json", files)
        self.bucket.put(f"{built.export_dir}manifest-files.md5", b64md5(files).encode())
        self.bucket.put(f"{built.export_dir}manifest-summary.json", summary)
        self.bucket.put(f"{built.export_dir}manifest-summary.md5", b64md5(summary).encode())
        return built


def _chunks(items: Iterable[Any], count: int, size: int | None) -> Iterator[list[Any]]:
    values = list(items)
    if size is None:
        size = max(1, -(-len(values) // max(count, 1)))
    for start in range(0, len(values), size):
        yield values[start:start + size]


def micros(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def change_line(when: datetime, keys: dict[str, Any], new: dict[str, Any] | None = None,
                old: dict[str, Any] | None = None, *, plain_ts: bool = False) -> dict[str, Any]:
    """An incremental export line (the timestamp as {"N": ...}, or a plain string)."""
    ts = str(micros(when))
    line: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": ts if plain_ts else {"N": ts}},
                            "Keys": keys}
    if old is not None:
        line["OldImage"] = old
    if new is not None:
        line["NewImage"] = new
    return line
