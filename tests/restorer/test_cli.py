"""`ddblake restore` from the command line, and the accidental-delete story end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ddblake import sampledata
from schemas.dynamo_json import from_client, to_client, value_key
from tests.helpers import create_table, put_items, run_cli, scan_all
from tests.restorer.lakehelp import snapshot_table


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_cli(capsys, *args)


@pytest.fixture
def users(ddb: Any, lake_dir: Path) -> list[dict[str, Any]]:
    create_table(ddb, "users", pk=("user_id", "S"))
    items = list(sampledata.users(400))
    put_items(ddb, "users", [to_client(i) for i in items])
    snapshot_table(ddb, lake_dir, "users", parts=3)
    return items


def test_accidental_delete_story(ddb: Any, lake_dir: Path, users: list[dict[str, Any]],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    # The cleanup meant `last_update < '2014-01-01'` but ran with `>=`.
    wrongly_deleted = [u for u in users if u["last_update"]["S"] >= "2014-01-01"]
    for u in wrongly_deleted:
        ddb.delete_item(TableName="users", Key={"user_id": to_client(u)["user_id"]})
    # Life goes on: a surviving user is updated after the snapshot.
    survivor = next(u for u in users if u["last_update"]["S"] < "2014-01-01")
    ddb.update_item(TableName="users", Key={"user_id": {"S": survivor["user_id"]["S"]}},
                    UpdateExpression="SET #p = :p", ExpressionAttributeNames={"#p": "plan"},
                    ExpressionAttributeValues={
                        ":p": {"S": "changed-after-snapshot"}})
    untouched_before = {i["user_id"]["S"]: i for i in scan_all(ddb, "users")}
    assert 0 < len(wrongly_deleted) < len(users)

    where = "last_update >= '2014-01-01'"
    code, _, err = run(["restore", "users", "--lake", str(lake_dir), "--to", "users",
                        "--existing", "--where", where, "--dry-run"], capsys)
    assert code == 0 and f"would_write: {len(wrongly_deleted)}" in err
    assert len(scan_all(ddb, "users")) == len(untouched_before)

    code, out, err = run(["restore", "users", "--lake", str(lake_dir), "--to", "users",
                          "--existing", "--where", where, "--format", "json", "-q"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["written"] == len(wrongly_deleted) and summary["dead_letters"] == 0
    assert summary["verification"]["ok"] and summary["verification"]["method"] == "batch-get"

    after = {i["user_id"]["S"]: i for i in scan_all(ddb, "users")}
    assert len(after) == len(users)
    for user_id, item in untouched_before.items():
        assert after[user_id] == item  # byte-identical, including the post-snapshot update
    for user in wrongly_deleted:
        assert value_key(from_client(after[user["user_id"]["S"]])) == value_key(user)


def test_text_summary_and_new_table(ddb: Any, lake_dir: Path, users: list[dict[str, Any]],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["restore", "--lake", str(lake_dir), "--to", "users-copy", "-q"],
                         capsys)
    assert code == 0, err
    assert out == ""
    assert f"written: {len(users)}" in err and "verification: ok" in err
    assert len(scan_all(ddb, "users-copy")) == len(users)


def test_errors_have_hints_and_exit_codes(ddb: Any, lake_dir: Path,
                                          users: list[dict[str, Any]],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["restore", "users", "--lake", str(lake_dir), "--to", "users"], capsys)
    assert code == 2 and "already exists" in err and "hint:" in err and "--existing" in err
    code, _, err = run(["restore", "users", "--lake", str(lake_dir), "--to", "x-new",
                        "--snapshot", "20200101T000000Z-00000000"], capsys)
    assert code == 5 and "not in" in err and "hint:" in err
    code, _, err = run(["restore", "users", "--lake", str(lake_dir), "--to", "x-new",
                        "--where", "read_text('/etc/passwd') IS NOT NULL"], capsys)
    assert code == 2 and "hint:" in err
    create_table(ddb, "other-key", pk=("id", "S"))
    code, _, err = run(["restore", "users", "--lake", str(lake_dir), "--to", "other-key",
                        "--existing"], capsys)
    assert code == 2 and "key" in err and "nothing was written" in err
    assert scan_all(ddb, "other-key") == []
