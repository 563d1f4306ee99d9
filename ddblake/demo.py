"""The guided demo: the whole product on an embedded DynamoDB + S3, in a few minutes.

Every step runs the real ``ddblake`` command in a subprocess and shows what it printed, so
the demo is also a check that the commands a user types work. The restore step is checked,
not narrated: the demo exits non-zero unless the live table ends equal to the first snapshot.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ddblake.embedded import EmbeddedAws
from ddblake.sampledata import users
from schemas.dynamo_json import from_client, value_key
from schemas.errors import DdbLakeError

TABLE = "users"
MARKER = ".ddblake-demo"
CLEANUP_SCRIPT = '''\
# cleanup.py: "delete users inactive since before 2014" ... with one character wrong
for page in ddb.get_paginator("scan").paginate(TableName="users"):
    for user in page["Items"]:
        if user["last_update"]["S"] >= "2014-01-01":      # meant: <
            ddb.delete_item(TableName="users", Key={"user_id": user["user_id"]})'''


@dataclass
class Demo:
    lake: str
    count: int
    say: Callable[[str], None]
    env: dict[str, str] = field(default_factory=dict)
    typed: list[str] = field(default_factory=list)

    def run(self, *args: str, check: bool = True) -> str:
        """Run ``ddblake ARGS`` as a user would, echoing the command and its output."""
        shown = "ddblake " + " ".join(shell_quote(a) for a in args)
        self.typed.append(shown)
        self.say(f"\n$ {shown}")
        done = subprocess.run([sys.executable, "-m", "ddblake", *args], env=self.env,
                              capture_output=True, text=True, check=False)
        output = (done.stdout + done.stderr).rstrip()
        if output:
            self.say(output)
        if check and done.returncode != 0:
            raise DdbLakeError(f"`{shown}` failed with exit code {done.returncode}",
                               hint="the output above says why")
        return done.stdout


def shell_quote(arg: str) -> str:
    """Quote for a POSIX shell the way a person would: SQL with single quotes goes in double
    quotes when nothing in it would expand there."""
    if "'" in arg and not any(c in arg for c in '"\\`') and not _expands(arg):
        return f'"{arg}"'
    return shlex.quote(arg)


def _expands(text: str) -> bool:
    """Would ``$`` expand inside double quotes? (``$.name`` does not; ``$x``, ``${``, ``$(`` do.)"""
    return any(text[i + 1:i + 2].isalnum() or text[i + 1:i + 2] in "{(_@*#?!-$"
               for i, c in enumerate(text) if c == "$")


def _client(service: str) -> Any:
    from lake.aws import make_client

    return make_client(service)


def _load_users(count: int) -> list[dict[str, Any]]:
    ddb = _client("dynamodb")
    ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}])
    from schemas.dynamo_json import to_client

    rows = [to_client(u) for u in users(count)]
    for start in range(0, len(rows), 25):
        request = {TABLE: [{"PutRequest": {"Item": r}} for r in rows[start:start + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
    return rows


def _table_items() -> list[dict[str, Any]]:
    ddb = _client("dynamodb")
    found: list[dict[str, Any]] = []
    for page in ddb.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True):
        found += [from_client(i) for i in page["Items"]]
    return found


def _accidental_cleanup() -> int:
    ddb = _client("dynamodb")
    deleted = 0
    for page in ddb.get_paginator("scan").paginate(TableName=TABLE):
        for user in page["Items"]:
            if user["last_update"]["S"] >= "2014-01-01":  # the bug of the story: meant <
                ddb.delete_item(TableName=TABLE, Key={"user_id": user["user_id"]})
                deleted += 1
    return deleted


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def prepare_lake(lake: str) -> None:
    """Start from an empty demo lake; never delete a folder the demo did not create."""
    if lake.startswith("s3://"):
        return
    path = Path(lake)
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            raise DdbLakeError(f"{path} exists and is not a demo lake",
                               hint="pass --lake with a new folder")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("created by `ddblake demo`; safe to delete\n")


def run_story(demo: Demo) -> None:
    say, run = demo.say, demo.run
    say(f"\n1. A live table: {demo.count:,} user profiles (nested preferences, tags, exact "
        "decimal balances).")
    original = [from_client(u) for u in _load_users(demo.count)]
    say("\n2. Back it up: a parallel Scan writes a Parquet snapshot with a manifest.")
    run("export", TABLE, "--lake", demo.lake)
    run("snapshots", "--lake", demo.lake)
    say("\n3. Query the backup with SQL (DuckDB reads the Parquet directly; no DynamoDB reads).")
    run("query", "--lake", demo.lake, "SELECT plan, count(*) AS users, sum(balance) AS "
        "balance FROM items GROUP BY plan ORDER BY plan")
    first = _snapshot_ids(demo.lake)[-1]
    before = _now()
    time.sleep(1.1)
    say("\n4. The accident. A cleanup script meant to delete users inactive since 2014:\n")
    say(CLEANUP_SCRIPT)
    deleted = _accidental_cleanup()
    say(f"\n   It deleted {deleted:,} of {demo.count:,} users: the active ones.")
    time.sleep(1.1)
    say("\n5. The nightly backup runs again and captures the damage.")
    run("export", TABLE, "--lake", demo.lake)
    time.sleep(1.1)  # times are shown to the second: step past the end of the second scan
    after = _now()
    second = _snapshot_ids(demo.lake)[-1]
    say("\n6. Which items did the script delete, and what did they look like?")
    run("query", "--lake", demo.lake,
        f"SELECT _change, count(*) AS items FROM diff('{first}', '{second}') GROUP BY ALL")
    run("query", "--lake", demo.lake, "SELECT _pk AS user_id, _old->>'$.name.S' AS name, "
        "_old->>'$.last_update.S' AS last_update, _old->>'$.balance.N' AS balance "
        f"FROM diff('{first}', '{second}') WHERE _change = 'removed' ORDER BY _pk LIMIT 5")
    say("\n7. Put exactly those items back into the live table, touching nothing else.")
    restore = ["restore", TABLE, "--lake", demo.lake, "--to", TABLE, "--existing",
               "--mode", "put-if-absent", "--deleted-between", before, after]
    run(*restore, "--dry-run")
    run(*restore)
    _check(original)


def _snapshot_ids(lake: str) -> list[str]:
    from lake.catalog import snapshot_ids
    from lake.fileio import load_file_io

    return snapshot_ids(load_file_io(lake), TABLE)


def _check(original: list[dict[str, Any]]) -> None:
    now = _table_items()
    if {value_key(i) for i in now} != {value_key(i) for i in original}:
        raise DdbLakeError(f"the live table has {len(now)} items that differ from the "
                           f"{len(original)} backed up", hint="this is a bug: please report it")


def main(lake: str, count: int, keep_running: bool, say: Callable[[str], None]) -> None:
    prepare_lake(lake)
    with EmbeddedAws() as aws:
        env = aws.environment()
        os.environ.update(env)
        demo = Demo(lake=lake, count=count, say=say, env={**os.environ, **env})
        say(f"Embedded DynamoDB + S3 (moto) on {aws.endpoint}; lake: {lake}")
        if lake.startswith("s3://"):
            bucket = lake[5:].split("/", 1)[0]
            _client("s3").create_bucket(Bucket=bucket)
        run_story(demo)
        say("\nVerified: the live table equals the first snapshot again, item for item "
            "(numbers by value).")
        say("\nTo repeat each step by hand, point your shell at the embedded AWS and type:")
        for name, value in env.items():
            say(f"  export {name}={value}")
        for command in demo.typed:
            say(f"  {command}")
        if keep_running:
            say("\nThe embedded AWS keeps running; press Ctrl-C to stop it.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
