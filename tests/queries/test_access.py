"""The S3 secret DuckDB gets is built from what boto3 resolved."""

from __future__ import annotations

import boto3
import duckdb
import pytest

from queries.access import httpfs_extension_path, s3_secret


def client(**kwargs: str) -> object:
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="s3cr3t",
                            aws_session_token=kwargs.pop("token", None),
                            region_name=kwargs.pop("region", "eu-west-3"))
    return session.client("s3", **kwargs)


def test_secret_for_aws_has_region_token_and_no_endpoint() -> None:
    text = s3_secret(client(token="tok'en"))
    assert "KEY_ID 'AKIDEXAMPLE'" in text and "SECRET 's3cr3t'" in text
    assert "SESSION_TOKEN 'tok''en'" in text and "REGION 'eu-west-3'" in text
    assert "ENDPOINT" not in text


def test_secret_for_a_custom_endpoint_uses_path_style() -> None:
    text = s3_secret(client(endpoint_url="https://minio.local:9000"))
    assert "ENDPOINT 'minio.local:9000'" in text and "URL_STYLE 'path'" in text
    assert "USE_SSL true" in text
    plain = s3_secret(client(endpoint_url="http://127.0.0.1:5000"))
    assert "USE_SSL false" in plain


def test_redacted_secret_hides_secrets_only() -> None:
    text = s3_secret(client(token="tok"), redact=True)
    assert "s3cr3t" not in text and "'tok'" not in text and "AKIDEXAMPLE" in text


@pytest.mark.httpfs
def test_the_secret_is_valid_duckdb_sql() -> None:
    path = httpfs_extension_path()
    assert path is not None, "the pinned duckdb-extension-httpfs package must load"
    con = duckdb.connect()
    con.execute(f"LOAD '{path}'")
    con.execute(s3_secret(client(token="t", endpoint_url="http://127.0.0.1:1")))
    assert con.sql("SELECT count(*) FROM duckdb_secrets() WHERE type = 's3'").fetchall() == [(1,)]
