"""An S3 lake on the moto server, read with distinctive credentials: no ``--where`` filter
and no dry-run sample can reach or print them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest

from lake import layout
from lake.fileio import FileIO, load_file_io
from lake.writers import SnapshotWriter, utc_now
from queries.access import lake_access
from restorer.config import RestoreConfig
from restorer.select import Query, resolve_source
from schemas.codec import encode_items
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Source
from tests.helpers import REGION, run_cli

KEY_ID, SECRET, TOKEN = "AKIADISTINCTIVE789", "SECRETdistinctive123", "TOKENdistinctive456"
BUCKET = "secret-lake"
DESCRIPTION = {"TableName": "orders", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
ITEMS = [{"pk": {"S": f"p{i}"}, "status": {"S": "active" if i % 2 else "gone"},
          "qty": {"N": str(i)}} for i in range(20)]


@pytest.fixture
def s3_lake(server_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path) -> str:
    for name, value in (("AWS_ACCESS_KEY_ID", KEY_ID), ("AWS_SECRET_ACCESS_KEY", SECRET),
                        ("AWS_SESSION_TOKEN", TOKEN)):
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # nothing DuckDB might spill lands in the repository
    client = boto3.client("s3", region_name=REGION)
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    uri = f"s3://{BUCKET}/lake-{tmp_path.name}"
    io = load_file_io(uri)
    keys = KeySchema.from_description(DESCRIPTION)
    writer = SnapshotWriter(io, "orders", layout.new_id(), keys)
    writer.write_part(layout.part_name(0, 0), encode_items([dict(i) for i in ITEMS[:10]], keys))
    writer.write_part(layout.part_name(0, 1), encode_items([dict(i) for i in ITEMS[10:]], keys))
    now = utc_now()
    writer.commit(source=Source("orders", "scan"), consistency=Consistency("fuzzy", now, now),
                  table_description=DESCRIPTION)
    return uri


def reveals(text: str) -> bool:
    return SECRET in text or TOKEN in text or "distinctive" in text


HOSTILE = [
    "current_setting('s3_secret_access_key') <> ''",
    "status = 'active' OR current_setting('s3_session_token') LIKE 'TOKEN%'",
    "(SELECT count(*) FROM duckdb_settings() WHERE value LIKE '%distinctive%') > 0",
    "EXISTS (SELECT * FROM duckdb_secrets())",
    "getenv('AWS_SECRET_ACCESS_KEY') <> ''",
    "status = $$x')$$) UNION ALL SELECT current_setting('s3_secret_access_key') --",
    "true) UNION ALL SELECT value FROM duckdb_settings() WHERE (true",
    "read_text('~/.aws/credentials') IS NOT NULL",
    "json_serialize_plan('SELECT current_setting(''s3_secret_access_key'')') <> ''",
]


@pytest.mark.httpfs  # asserts what DuckDB does with the httpfs extension loaded
def test_filters_and_samples_never_print_the_credentials(s3_lake: str, capsys: Any) -> None:
    code, out, err = run_cli(capsys, "query", "--lake", s3_lake, "--print-setup",
                             "--with-credentials")
    assert code == 0 and SECRET in out  # the search below would find them
    seen = []
    for where in HOSTILE:
        code, out, err = run_cli(capsys, "restore", "orders", "--lake", s3_lake, "--to", "t",
                                 "--where", where, "--dry-run")
        assert code == 2 and "hint:" in err and "Traceback" not in err, (where, err)
        seen.append(out + err)
    code, out, err = run_cli(capsys, "restore", "orders", "--lake", s3_lake, "--to", "t",
                             "--where", "status = 'active'", "--dry-run", "--format", "json")
    assert code == 0 and '\\"active\\"' in out and "would_write" in out, out + err
    seen.append(out + err)
    assert not any(reveals(text) for text in seen)


@pytest.mark.httpfs  # asserts what DuckDB does with the httpfs extension loaded
def test_the_filter_connection_holds_no_credential(s3_lake: str) -> None:
    """Defence in depth: DuckDB itself is asked, bypassing the parser check."""
    io: FileIO = load_file_io(s3_lake)
    config = RestoreConfig(lake=s3_lake, target="t", table="orders", where="true")
    query = Query(resolve_source(io, config), config)
    try:
        assert query.count()[0] == len(ITEMS)  # the parts were read from S3
        con = query.isolated
        settings = con.sql("SELECT * FROM duckdb_settings()").fetchall()
        assert settings and not reveals(repr(settings))
        assert con.sql("SELECT count(*) FROM duckdb_secrets()").fetchall() == [(0,)]
        for name in ("s3_secret_access_key", "s3_session_token", "s3_access_key_id"):
            with pytest.raises(duckdb.Error):  # httpfs is not loaded: no such setting
                con.sql(f"SELECT current_setting('{name}')").fetchall()
        kept = query._rows().filter(duckdb.SQLExpression(
            "(SELECT count(*) FROM duckdb_settings() WHERE value LIKE '%distinctive%') = 0"))
        assert len(kept.fetchall()) == len(ITEMS)
        with pytest.raises(duckdb.Error):
            con.sql(f"SELECT * FROM read_parquet('{s3_lake}/orders/**/*.parquet')").fetchall()
    finally:
        query.close()
    # The same probe finds the secret in a connection that read the lake with httpfs.
    plain = duckdb.connect()
    for statement in lake_access(io).setup:
        plain.execute(statement)
    plain.sql(f"SELECT count(*) FROM read_parquet('{s3_lake}/orders/**/*.parquet')").fetchall()
    assert reveals(repr(plain.sql("SELECT * FROM duckdb_settings()").fetchall()))
