"""Where a lake's Iceberg tables live, and pyiceberg's FileIO for the lake.

pyiceberg reads part footers (ranged reads) and writes manifest files through its own
FileIO; it gets the same credentials, region and endpoint the lake's boto3 client resolved.
Commit objects (``vN.metadata.json``, ``version-hint.text``) go through the lake's FileIO,
whose ``create`` refuses to overwrite.
"""

from __future__ import annotations

from typing import Any

from pyiceberg.io import FileIO as IcebergFileIO
from pyiceberg.io.pyarrow import PyArrowFileIO

from lake import layout
from lake.fileio import FileIO, S3FileIO
from schemas.errors import CredentialsError


def table_location(io: FileIO, table: str, kind: str) -> str:
    """The Iceberg table's location (``<lake>/<table>/iceberg/<kind>``), as engines see it."""
    return io.full_uri(layout.iceberg_table_prefix(table, kind)).rstrip("/")


def s3_properties(client: Any) -> dict[str, str]:
    """pyiceberg ``s3.*`` properties from a boto3 S3 client."""
    signer = getattr(client, "_request_signer", None)
    credentials = getattr(signer, "_credentials", None)
    if credentials is None:
        raise CredentialsError("no AWS credentials found to write Iceberg metadata",
                               hint="configure a profile or AWS_ACCESS_KEY_ID/"
                                    "AWS_SECRET_ACCESS_KEY")
    frozen = credentials.get_frozen_credentials()
    props = {"s3.access-key-id": frozen.access_key, "s3.secret-access-key": frozen.secret_key,
             "s3.region": client.meta.region_name or "us-east-1"}
    if frozen.token:
        props["s3.session-token"] = frozen.token
    endpoint = client.meta.endpoint_url or ""
    if endpoint and "amazonaws.com" not in endpoint:
        props["s3.endpoint"] = endpoint
    return props


def iceberg_properties(io: FileIO) -> dict[str, str]:
    """Properties that let pyiceberg (and so ``StaticTable``, polars) read the lake."""
    if not isinstance(io, S3FileIO):
        return {}
    props = s3_properties(io.client)
    if io.options.kms_key:
        props["s3.sse-kms-key-id"] = io.options.kms_key
        props["s3.server-side-encryption"] = "aws:kms"
    return props


def iceberg_io(io: FileIO) -> IcebergFileIO:
    return PyArrowFileIO(properties=iceberg_properties(io))
