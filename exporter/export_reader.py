"""Reads a native DynamoDB export (ExportTableToPointInTime) as it really appears in S3.

Layout (reference/anchors.md §2)::

    <root>/[<prefix>/]AWSDynamoDB/<ExportId>/manifest-summary.json (+ .md5)
                                             manifest-files.json   (+ .md5, JSON Lines)
                                             data/*.json.gz        full exports
    <root>/[<prefix>/]AWSDynamoDB/data/*.json.gz                   incremental exports (shared)

Data files are taken ONLY from ``manifest-files.json`` (never from a listing: incremental
exports share one data folder). Every file's ``md5Checksum`` (base64 MD5 of the gzip bytes;
the ETag is never compared) and ``itemCount`` are checked, and the counts are checked
against the summary. Keys in the manifests are full keys from the bucket root, so the root
is the export folder's URI minus the folder part of ``manifestFilesS3Key``.

An export made by someone else is untrusted input: the table and export ARNs are parsed by a
strict pattern (the region names the DynamoDB endpoint the table is described at), and a
``manifest-summary.md5`` mismatch is refused unless the caller accepts it explicitly
(``accept_summary_mismatch``), which still checks every data file against
``manifest-files.json`` (itself checked against its ``.md5``) and records the override.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from exporter.gzip_lines import iter_lines as iter_lines  # re-exported
from lake.fileio import FileIO, LocalFileIO, load_file_io
from schemas.errors import CorruptDataError, ManifestError, MissingDataError, UsageError

SUMMARY = "manifest-summary.json"
FILES = "manifest-files.json"
ACCEPT_SUMMARY_FLAG = "--accept-summary-mismatch"
ExportType = Literal["FULL_EXPORT", "INCREMENTAL_EXPORT"]
_CHUNK = 1 << 20
# arn:PARTITION:dynamodb:REGION:ACCOUNT:table/NAME (names as DynamoDB allows them)
_TABLE_ARN = re.compile(r"arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):dynamodb:"
                        r"([a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):([0-9]{12}):table/"
                        r"([A-Za-z0-9_.-]{3,255})")
# exportArn: DynamoDB writes <tableArn>/export/<ExportId> (emulators differ); only its last
# segment, the export id that names the export's folder, is used, and it must be plain.
_EXPORT_ARN = re.compile(r"arn:[!-~]{1,1000}/([A-Za-z0-9._-]{1,128})")


@dataclass(frozen=True)
class DataFile:
    """One data file as listed by ``manifest-files.json``; ``key`` is from the bucket root."""

    key: str
    item_count: int
    md5: str
    etag: str | None = None

    def check_count(self, uri: str, found: int, what: str = "items") -> None:
        """Refuse a file whose converted count is not the one its manifest listed."""
        if found != self.item_count:
            raise CorruptDataError(f"data file {uri} holds {found} {what} but "
                                   f"manifest-files.json says {self.item_count}",
                                   hint="the export is damaged; request a new export")


@dataclass(frozen=True)
class ExportInfo:
    """What ``manifest-summary.json`` says, with times parsed (UTC)."""

    export_arn: str
    table_arn: str
    table_id: str | None
    export_type: ExportType
    output_format: str
    output_view: str | None
    item_count: int
    export_time: datetime | None
    from_time: datetime | None
    to_time: datetime | None
    start_time: datetime | None
    manifest_files_key: str
    s3_bucket: str | None
    s3_prefix: str | None
    raw: dict[str, Any]

    @property
    def export_id(self) -> str:
        return self.export_arn.rsplit("/", 1)[-1]

    @property
    def table_name(self) -> str:
        return self._arn().group(4)

    @property
    def region(self) -> str:
        return self._arn().group(2)

    @property
    def account(self) -> str:
        return self._arn().group(3)

    def _arn(self) -> re.Match[str]:
        match = _TABLE_ARN.fullmatch(self.table_arn)
        assert match is not None  # checked by _info
        return match

    @property
    def incremental(self) -> bool:
        return self.export_type == "INCREMENTAL_EXPORT"


@dataclass(frozen=True)
class SummaryCheck:
    """How ``manifest-summary.json`` was checked against ``manifest-summary.md5``."""

    status: Literal["verified", "mismatch accepted"]
    recorded: str | None = None
    computed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.status == "verified":
            return {"status": self.status}
        return {"status": self.status, "flag": ACCEPT_SUMMARY_FLAG, "recorded": self.recorded,
                "computed": self.computed}

    def warning(self, uri: str) -> str | None:
        if self.status == "verified":
            return None
        return (f"{uri} does not match manifest-summary.md5 (recorded {self.recorded}, "
                f"computed {self.computed}); accepted by {ACCEPT_SUMMARY_FLAG}: the summary's "
                "times and table are unverified, every data file was still checked against "
                "manifest-files.json (MD5, size, item count); the override is recorded in the "
                "lake")


@dataclass(frozen=True)
class Export:
    """A located, manifest-verified export: where its bucket root is, and its files."""

    root_uri: str
    export_dir: str
    info: ExportInfo
    files: tuple[DataFile, ...]
    summary_check: SummaryCheck = SummaryCheck("verified")

    def uri(self, key: str) -> str:
        return f"{self.root_uri.rstrip('/')}/{key}"


def parse_time(text: Any, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as e:
        raise ManifestError(f"manifest-summary field {field} is not a time: {text!r}") from e


def b64_md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def _md5_matches(recorded: str, digest: bytes) -> bool:
    recorded = recorded.strip()
    if recorded.lower() == digest.hex():
        return True
    try:
        return base64.b64decode(recorded, validate=True) == digest
    except (binascii.Error, ValueError):
        return False


def _folder_uri(uri: str) -> str:
    uri = uri.rstrip("/")
    if uri.endswith(SUMMARY) or uri.endswith(FILES):
        uri = uri.rsplit("/", 1)[0]
    return uri + "/"


def _read(io: FileIO, key: str, what: str) -> bytes:
    if not io.exists(key):
        raise MissingDataError(f"{what} {io.full_uri(key)} does not exist",
                               hint="point at the export folder: s3://BUCKET/[PREFIX/]"
                                    "AWSDynamoDB/<ExportId>/ (it holds manifest-summary.json)")
    return io.read(key)


def _recorded_md5(io: FileIO, key: str, what: str) -> tuple[str, str]:
    """The text of the ``.md5`` (or ``.checksum``) file next to ``key``, and its name."""
    stem = key.rsplit(".", 1)[0]
    for suffix in (".md5", ".checksum"):
        if io.exists(stem + suffix):
            return io.read(stem + suffix).decode("ascii", "replace").strip(), stem + suffix
    raise MissingDataError(f"{io.full_uri(stem)}.md5 is missing, so {what} cannot be verified",
                           hint="the export is incomplete (still running, or copied partly)")


def _verified(io: FileIO, key: str, what: str) -> bytes:
    data = _read(io, key, what)
    recorded, name = _recorded_md5(io, key, what)
    if not _md5_matches(recorded, hashlib.md5(data).digest()):
        raise CorruptDataError(
            f"{what} {io.full_uri(key)} does not match {name.rsplit('/', 1)[-1]} "
            f"(recorded {recorded}, computed {b64_md5(data)})",
            hint="the export is damaged or was edited; request a new export")
    return data


def _summary(io: FileIO, accept_mismatch: bool) -> tuple[bytes, SummaryCheck]:
    """``manifest-summary.json`` and how it was checked: a mismatch is refused unless
    accepted explicitly (an anonymised copy of an export that cannot be made again)."""
    data = _read(io, SUMMARY, "the export summary")
    recorded, _ = _recorded_md5(io, SUMMARY, "the export summary")
    if _md5_matches(recorded, hashlib.md5(data).digest()):
        return data, SummaryCheck("verified")
    if accept_mismatch:
        return data, SummaryCheck("mismatch accepted", recorded, b64_md5(data))
    raise CorruptDataError(
        f"the export summary {io.full_uri(SUMMARY)} does not match manifest-summary.md5 "
        f"(recorded {recorded}, computed {b64_md5(data)})",
        hint="the export is damaged or was edited; request a new export. If this copy cannot "
             f"be made again and you trust it, re-run with {ACCEPT_SUMMARY_FLAG}: every data "
             "file is still checked (MD5, size, item count) against manifest-files.json, "
             "and the lake records the override")


def _info(summary: dict[str, Any]) -> ExportInfo:
    try:
        declared = summary.get("exportType") or "FULL_EXPORT"
        if declared not in ("FULL_EXPORT", "INCREMENTAL_EXPORT"):
            raise ManifestError(f"unknown exportType {declared!r} in manifest-summary.json")
        export_type: ExportType = ("INCREMENTAL_EXPORT" if declared == "INCREMENTAL_EXPORT"
                                   else "FULL_EXPORT")
        table_arn, export_arn = _arns(summary)
        return ExportInfo(
            export_arn=export_arn, table_arn=table_arn,
            table_id=summary.get("tableId"), export_type=export_type,
            output_format=str(summary.get("outputFormat") or "DYNAMODB_JSON"),
            output_view=summary.get("outputView"), item_count=int(summary["itemCount"]),
            export_time=parse_time(summary.get("exportTime"), "exportTime"),
            from_time=parse_time(summary.get("exportFromTime"), "exportFromTime"),
            to_time=parse_time(summary.get("exportToTime"), "exportToTime"),
            start_time=parse_time(summary.get("startTime"), "startTime"),
            manifest_files_key=str(summary["manifestFilesS3Key"]),
            s3_bucket=summary.get("s3Bucket"), s3_prefix=summary.get("s3Prefix"), raw=summary)
    except (KeyError, TypeError, ValueError) as e:
        raise ManifestError(f"manifest-summary.json lacks or has a bad field: {e!r}") from e


def _arns(summary: dict[str, Any]) -> tuple[str, str]:
    """``tableArn`` (strictly: its region names the endpoint the table is described at) and
    ``exportArn`` (an ARN whose last segment, the export id, is plain)."""
    table_arn, export_arn = summary["tableArn"], summary["exportArn"]
    if not isinstance(table_arn, str) or not _TABLE_ARN.fullmatch(table_arn):
        raise ManifestError(f"manifest-summary.json: tableArn {table_arn!r} is not a DynamoDB "
                            "table ARN", hint="the summary was altered; do not convert this export")
    if (not isinstance(export_arn, str) or not _EXPORT_ARN.fullmatch(export_arn)
            or ".." in export_arn.rsplit("/", 1)[-1]):
        raise ManifestError(f"manifest-summary.json: exportArn {export_arn!r} is not an export "
                            "ARN", hint="the summary was altered; do not convert this export")
    return table_arn, export_arn


def _files(data: bytes, uri: str) -> tuple[DataFile, ...]:
    files = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
            files.append(DataFile(str(entry["dataFileS3Key"]), int(entry["itemCount"]),
                                  str(entry["md5Checksum"]), entry.get("etag")))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ManifestError(f"{uri} line {number} is not a data file entry: {e!r}") from e
    return tuple(files)


def open_export(uri: str, *, session: Any = None, s3_client: Any = None,
                accept_summary_mismatch: bool = False) -> tuple[FileIO, Export]:
    """Locate and verify the export at ``uri`` (its ``AWSDynamoDB/<ExportId>/`` folder).

    Returns a FileIO rooted at the bucket root and the export. Checks both manifests against
    their ``.md5`` files (a summary mismatch only passes with ``accept_summary_mismatch``,
    and the returned export says so) and the per-file counts against the summary's
    ``itemCount``.
    """
    folder = _folder_uri(uri)
    here = load_file_io(folder, session=session, s3_client=s3_client)
    if not here.exists(SUMMARY):
        _explain_missing(here, folder)
    summary_bytes, check = _summary(here, accept_summary_mismatch)
    try:
        summary = orjson.loads(summary_bytes)
    except orjson.JSONDecodeError as e:
        raise ManifestError(f"{here.full_uri(SUMMARY)} is not JSON ({e})") from e
    if not isinstance(summary, dict):
        raise ManifestError(f"{here.full_uri(SUMMARY)} is not a JSON object")
    info = _info(summary)
    export_dir = _export_dir(info, folder)
    root_uri = folder[: len(folder) - len(export_dir)] or "."
    root = load_file_io(root_uri, session=session, s3_client=s3_client)
    files_data = _verified(root, info.manifest_files_key, "the export's file list")
    files = _files(files_data, root.full_uri(info.manifest_files_key))
    _check_files(files, info, export_dir, root.full_uri(export_dir))
    return root, Export(root.uri, export_dir, info, files, check)


def _export_dir(info: ExportInfo, folder: str) -> str:
    """The export's folder from the bucket root: ``[PREFIX/]AWSDynamoDB/<ExportId>/``, named
    by ``manifestFilesS3Key``, and the folder ``uri`` points at."""
    export_dir = info.manifest_files_key.rsplit("/", 1)[0] + "/"
    parts = export_dir.rstrip("/").split("/")
    if (info.manifest_files_key != export_dir + FILES or parts[-1] != info.export_id
            or len(parts) < 2 or parts[-2] != "AWSDynamoDB"
            or any(p in ("", ".", "..") for p in parts) or ":" in parts[0]):
        raise ManifestError(f"manifest-summary.json: manifestFilesS3Key "
                            f"{info.manifest_files_key!r} is not "
                            f"[PREFIX/]AWSDynamoDB/{info.export_id}/{FILES}",
                            hint="the summary was altered; do not convert this export")
    if not folder.endswith("/" + export_dir) and folder != export_dir:
        raise UsageError(f"{folder} does not end with {export_dir}, the folder its "
                         "manifest-summary.json names",
                         hint="manifest keys are full keys from the bucket root; keep the export "
                              "at the same path (prefix) it was written to")
    return export_dir


def _check_files(files: tuple[DataFile, ...], info: ExportInfo, export_dir: str,
                 where: str) -> None:
    base = export_dir[: export_dir.rfind("AWSDynamoDB/")] + "AWSDynamoDB/"
    for f in files:
        if not f.key.startswith(base) or any(p in ("", ".", "..") for p in f.key.split("/")):
            raise ManifestError(f"manifest-files.json of {info.export_id} lists {f.key!r}, "
                                f"outside the export's {base} folder",
                                hint="the manifest was altered; do not convert this export")
    listed = sum(f.item_count for f in files)
    if listed != info.item_count:
        raise CorruptDataError(f"manifest-files.json lists {listed} items but manifest-summary."
                               f"json says {info.item_count} ({where})",
                               hint="the export is damaged; request a new export")
    if len({f.key for f in files}) != len(files):
        raise CorruptDataError(f"manifest-files.json of {info.export_id} lists a file twice")


def _explain_missing(here: FileIO, folder: str) -> None:
    """No summary here: if this is a bucket/prefix holding exports, name them."""
    base = "" if folder.rstrip("/").endswith("AWSDynamoDB") else "AWSDynamoDB/"
    found = [d for d in here.list_dirs(base) if d != "data"][-5:]
    if found:
        raise MissingDataError(f"{folder} is not an export folder (no {SUMMARY})",
                               hint="pass one of the exports below it, e.g. "
                                    + ", ".join(f"{folder}{base}{d}/" for d in found))


def check_format(info: ExportInfo) -> None:
    if info.output_format != "DYNAMODB_JSON":
        raise UsageError(f"export {info.export_id} is in {info.output_format} format; ddblake "
                         "converts DYNAMODB_JSON exports only",
                         hint="request the export with ExportFormat=DYNAMODB_JSON "
                              "(`ddblake export --mode native` does)")


@contextmanager
def local_copy(io: FileIO, key: str) -> Iterator[Path]:
    """A local path holding the object (the file itself for a local root), checked to hold
    exactly the bytes the storage says the object has (a short download is refused)."""
    stored = io.stat(key)
    if stored is None:
        raise MissingDataError(f"data file {io.full_uri(key)} listed by manifest-files.json "
                               "does not exist", hint="the export is incomplete or was partly "
                               "deleted; request a new export")
    if isinstance(io, LocalFileIO):
        yield _sized(io.root / key, stored.size, io.full_uri(key))
        return
    with tempfile.TemporaryDirectory(prefix="ddblake-export-") as tmp:
        path = Path(tmp, "data.json.gz")
        io.get_file(key, path)
        yield _sized(path, stored.size, io.full_uri(key))


def _sized(path: Path, size: int, uri: str) -> Path:
    if not path.is_file():
        raise MissingDataError(f"data file {uri} listed by manifest-files.json does not exist",
                               hint="the export is incomplete or was partly deleted; "
                                    "request a new export")
    found = path.stat().st_size
    if found != size:
        raise CorruptDataError(f"data file {uri}: read {found} bytes, the object holds {size}",
                               hint="the download was cut short or the object changed while "
                                    "it was read; re-run the command")
    return path


def verify_md5(path: Path, data_file: DataFile, uri: str) -> int:
    """Check the gzip bytes against ``md5Checksum``; return their size."""
    digest = hashlib.md5()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
            size += len(block)
    if not _md5_matches(data_file.md5, digest.digest()):
        raise CorruptDataError(f"data file {uri} fails its MD5 check (manifest "
                               f"{data_file.md5}, computed "
                               f"{base64.b64encode(digest.digest()).decode()})",
                               hint="the object is damaged or was replaced; request a new export")
    return size
