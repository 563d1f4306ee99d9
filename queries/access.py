"""How DuckDB reaches a lake's files: local paths, or ``s3://`` through httpfs.

The httpfs extension comes from the pinned ``duckdb-extension-httpfs`` PyPI package (the
same version as duckdb), loaded from the package's file: no network download. Credentials,
session token, region and endpoint are the ones the lake's boto3 client resolved (profiles,
``AWS_*`` variables, ``AWS_ENDPOINT_URL[_S3]``). Where the extension cannot load, parts are
copied once into a local cache through the lake's FileIO and read from there (the
fallback is reported once through the ``ddblake.queries`` logger).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb

from lake.fileio import FileIO, S3FileIO
from queries.sqltext import literal
from schemas.errors import StorageError

log = logging.getLogger("ddblake.queries")
SECRET_NAME = "ddblake_lake"


@cache
def httpfs_extension_path() -> str | None:
    """The httpfs extension file shipped by ``duckdb-extension-httpfs``, if it loads."""
    try:
        import duckdb_extension_httpfs as package
    except ImportError:
        return None
    root = Path(package.__file__).parent / "extensions"
    path = root / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not path.is_file():
        log.warning("no httpfs extension for duckdb %s in %s", duckdb.__version__, root)
        return None
    try:
        duckdb.connect().execute(f"LOAD {literal(str(path))}")
    except duckdb.Error as e:
        log.warning("the httpfs extension at %s does not load (%s); S3 lakes are read "
                    "through a local copy of their parts", path, e)
        return None
    return str(path)


@dataclass
class LakeAccess:
    """Paths and setup statements for DuckDB over one lake."""

    io: FileIO
    setup: list[str] = field(default_factory=list)
    cache_dir: Path | None = None
    redacted_setup: list[str] = field(default_factory=list)

    def path(self, key: str) -> str:
        """What DuckDB reads for the lake key ``key`` (copied to the cache in fallback)."""
        if self.cache_dir is None:
            return self.io.full_uri(key)
        local = self.cache_dir / hashlib.sha256(self.io.full_uri(key).encode()).hexdigest()
        local = local.with_suffix(".parquet")
        if not local.exists():
            temp = local.with_suffix(".tmp")
            self.io.get_file(key, temp)
            os.replace(temp, local)
        return str(local)


def _credentials(client: Any) -> Any:
    signer = getattr(client, "_request_signer", None)
    creds = getattr(signer, "_credentials", None)
    if creds is None:
        import boto3

        creds = boto3.Session().get_credentials()
    if creds is None:
        from schemas.errors import CredentialsError

        raise CredentialsError("no AWS credentials found to read the S3 lake",
                               hint="configure a profile or AWS_ACCESS_KEY_ID/"
                                    "AWS_SECRET_ACCESS_KEY")
    return creds.get_frozen_credentials()


def s3_secret(client: Any, *, redact: bool = False) -> str:
    """``CREATE SECRET`` for DuckDB with the client's credentials, region and endpoint."""
    frozen = _credentials(client)
    parts = ["TYPE s3", f"KEY_ID {literal(frozen.access_key)}",
             f"SECRET {literal('<redacted>' if redact else frozen.secret_key)}"]
    if frozen.token:
        parts.append(f"SESSION_TOKEN {literal('<redacted>' if redact else frozen.token)}")
    region = client.meta.region_name or "us-east-1"
    parts.append(f"REGION {literal(region)}")
    endpoint = client.meta.endpoint_url or ""
    split = urlsplit(endpoint)
    if split.netloc and not split.netloc.endswith("amazonaws.com"):
        parts += [f"ENDPOINT {literal(split.netloc)}", "URL_STYLE 'path'",
                  f"USE_SSL {'true' if split.scheme == 'https' else 'false'}"]
    return f"CREATE OR REPLACE SECRET {SECRET_NAME} ({', '.join(parts)})"


_ACCESS: dict[int, LakeAccess] = {}


def lake_access(io: FileIO) -> LakeAccess:
    """The (cached, per FileIO object) access recipe for ``io``."""
    found = _ACCESS.get(id(io))
    if found is not None and found.io is io:
        return found
    access = _build_access(io)
    _ACCESS[id(io)] = access
    return access


def _build_access(io: FileIO) -> LakeAccess:
    if not isinstance(io, S3FileIO):
        return LakeAccess(io)
    extension = httpfs_extension_path()
    if extension is None:
        cache_dir = Path(tempfile.mkdtemp(prefix="ddblake-parts-"))
        log.warning("DuckDB's httpfs extension is not available: reading %s through a "
                    "local copy of its parts in %s", io.uri, cache_dir)
        return LakeAccess(io, cache_dir=cache_dir)
    load = f"LOAD {literal(extension)}"
    try:
        secret = s3_secret(io.client)
        shown = s3_secret(io.client, redact=True)
    except AttributeError as e:
        raise StorageError(f"cannot read the S3 settings for {io.uri}: {e}") from e
    return LakeAccess(io, setup=[load, secret], redacted_setup=[load, shown])


def connect(io: FileIO, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that can read ``io``'s lake (setup already run)."""
    config: dict[str, str | bool | int | float | list[str]] = (
        {"threads": threads} if threads else {})
    con = duckdb.connect(config=config)
    for statement in lake_access(io).setup:
        con.execute(statement)
    return con
