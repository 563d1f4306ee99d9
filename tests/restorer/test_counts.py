"""Restore summaries count every selected item once, by who wrote it: this run
(``written``), an earlier run of the same restore (``written_earlier``), or nobody because
it existed before the restore (``skipped_existing``), after lost responses and after a run
that died half way through a unit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest

from lake.fileio import LocalFileIO
from restorer import RestoreConfig, RestoreResult, RetryPolicy, restore
from restorer.journal import find_resumable, lock_restore
from schemas.dynamo_json import from_client, value_key
from schemas.errors import AwsError, BusyError
from tests.helpers import REGION, create_table, put_items, scan_all
from tests.restorer.faults import LostResponses, ddb_error
from tests.restorer.lakehelp import snapshot_table

N = 90


@pytest.fixture(autouse=True)
def _fast_botocore_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.0)


def _item(i: int, value: str = "lake") -> dict[str, Any]:
    return {"pk": {"S": f"k{i:04d}"}, "v": {"S": value}, "n": {"N": f"{i}.50"}}


@pytest.fixture
def session(aws: None, lake_dir: Path) -> boto3.Session:
    session = boto3.Session(region_name=REGION)
    ddb = session.client("dynamodb")
    create_table(ddb, "src")
    put_items(ddb, "src", [_item(i) for i in range(N)])
    snapshot_table(ddb, lake_dir, "src", parts=3)
    return session


def _target_with(session: boto3.Session, before: dict[int, str]) -> None:
    """The target exists and holds some of the keys already: ``value`` "lake" makes the
    same item as the snapshot's, anything else a different one."""
    ddb = session.client("dynamodb")
    create_table(ddb, "dst")
    put_items(ddb, "dst", [_item(i, value) for i, value in before.items()])


def _config(lake: Path, **kw: Any) -> RestoreConfig:
    return RestoreConfig(lake=str(lake), target="dst", unit_rows=25, threads=1,
                         retry=RetryPolicy(max_rounds=4, base_delay=0.0, max_delay=0.0), **kw)


def _adds_up(result: RestoreResult) -> None:
    assert (result.written + result.written_earlier + result.skipped_existing
            + result.skipped_expired + result.dead_letters) == result.selected == N


def _table(session: boto3.Session) -> dict[str, Any]:
    ddb = session.client("dynamodb")
    return {i["pk"]["S"]: value_key(from_client(i)) for i in scan_all(ddb, "dst")}


def test_lost_batch_responses_are_counted_once(session: boto3.Session,
                                               lake_dir: Path) -> None:
    lost = LostResponses(lambda body: True)  # every first response of every batch
    session.events.register_first("before-send.dynamodb.BatchWriteItem", lost)
    result = restore(_config(lake_dir), session=session)
    assert lost.lost >= 4  # one per batch: 90 items in batches of at most 25
    assert (result.written, result.written_earlier, result.skipped_existing) == (N, 0, 0)
    _adds_up(result)
    assert result.ok and len(_table(session)) == N


def test_lost_conditional_put_responses_are_written_not_skipped(session: boto3.Session,
                                                                lake_dir: Path) -> None:
    before = {i: "lake" if i % 2 else "other" for i in range(0, N, 9)}  # 10 keys, half equal
    _target_with(session, before)
    victims = {f"k{i:04d}" for i in range(N) if i % 5 == 1 and i not in before}
    lost = LostResponses(lambda body: any(f'"{k}"'.encode() in body for k in victims))
    session.events.register_first("before-send.dynamodb.PutItem", lost)
    result = restore(_config(lake_dir, mode="put-if-absent", existing=True), session=session)
    assert lost.lost == len(victims) > 0  # each was written, then its retry found it there
    assert result.skipped_existing == len(before)  # equal or not, they were there before
    assert result.written == N - len(before) and result.written_earlier == 0
    _adds_up(result)
    table = _table(session)
    assert table[f"k{0:04d}"] == value_key(_item(0, "other"))  # kept as it was


class DeniedAfter:
    """Deny (403 AccessDeniedException) every write after the first ``n``: a run that
    stops half way through a unit, deterministically."""

    def __init__(self, n: int) -> None:
        self.n, self.calls, self.active = n, 0, True

    def __call__(self, request: Any, **_: Any) -> Any:
        self.calls += 1
        if self.active and self.calls > self.n:
            return ddb_error(request, 403, "AccessDeniedException")
        return None


def test_a_run_that_died_mid_unit_is_counted_as_earlier(session: boto3.Session,
                                                        lake_dir: Path) -> None:
    before = {i: "lake" if i % 2 else "other" for i in range(0, N, 7)}  # 13 keys
    _target_with(session, before)
    denied = DeniedAfter(40)  # unit 0 (25 puts) finished, unit 1 stops after 15 puts
    session.events.register_first("before-send.dynamodb.PutItem", denied)
    config = _config(lake_dir, mode="put-if-absent", existing=True)
    with pytest.raises(AwsError) as e:
        restore(config, session=session)
    assert e.value.exit_code == 8 and "dynamodb:PutItem" in e.value.message
    journal = find_resumable(LocalFileIO(lake_dir), "src", "dst")
    assert journal is not None and list(journal.done) == [0]  # unit 1 died half written
    by_first_run = len(_table(session)) - len(before)
    assert by_first_run > 25  # more than unit 0 holds: unit 1 was partly written
    denied.active = False
    result = restore(RestoreConfig(**{**config.__dict__, "resume": True}), session=session)
    assert result.skipped_existing == len(before)
    assert result.written_earlier == by_first_run
    assert result.written == N - len(before) - by_first_run
    _adds_up(result)
    assert result.ok and len(_table(session)) == N


def test_a_held_restore_is_refused_then_resumes(session: boto3.Session,
                                                lake_dir: Path) -> None:
    denied = DeniedAfter(0)
    session.events.register_first("before-send.dynamodb.BatchWriteItem", denied)
    config = _config(lake_dir)
    with pytest.raises(AwsError):
        restore(config, session=session)
    denied.active = False
    io = LocalFileIO(lake_dir)
    journal = find_resumable(io, "src", "dst")
    assert journal is not None
    resumed = RestoreConfig(**{**config.__dict__, "resume": True})
    with lock_restore(io, journal):  # another run of the same restore is under way
        with pytest.raises(BusyError) as e:
            restore(resumed, session=session)
        assert e.value.exit_code == 10
        assert f"restore {journal.restore_id} of src into dst is already being run" \
            in e.value.message
        assert orjson.loads(io.read(journal.key()))["runs"] == 1  # the refused run wrote nothing
    result = restore(resumed, session=session)
    assert (result.written, result.written_earlier) == (N, 0) and result.ok


def test_binary_and_number_keys_are_told_apart(aws: None, lake_dir: Path) -> None:
    """B and N keys are matched by DynamoDB value: a pre-existing key written as 7.50 is the
    snapshot's 7.5, a lost response on a binary key is still this run's."""
    import base64

    session = boto3.Session(region_name=REGION)
    ddb = session.client("dynamodb")

    def item(i: int, number: str) -> dict[str, Any]:
        return {"pk": {"B": bytes([i % 7, 255, 0])}, "sk": {"N": number}, "v": {"S": str(i)}}

    create_table(ddb, "bsrc", pk=("pk", "B"), sk=("sk", "N"))
    put_items(ddb, "bsrc", [item(i, f"{i}.5") for i in range(N)])
    snapshot_table(ddb, lake_dir, "bsrc", parts=2)
    create_table(ddb, "dst", pk=("pk", "B"), sk=("sk", "N"))
    before = range(0, N, 10)
    put_items(ddb, "dst", [item(i, f"{i}.50") for i in before])
    victims = [i for i in range(N) if i % 4 == 3]
    marks = {(base64.b64encode(bytes([i % 7, 255, 0])).decode(), f"{i}.5") for i in victims}

    def lose(body: bytes) -> bool:
        sent = orjson.loads(body)["Item"]
        return (sent["pk"]["B"], sent["sk"]["N"]) in marks

    lost = LostResponses(lose)
    session.events.register_first("before-send.dynamodb.PutItem", lost)
    result = restore(_config(lake_dir, table="bsrc", mode="put-if-absent", existing=True),
                     session=session)
    assert lost.lost == len(victims)
    assert result.skipped_existing == len(before)
    assert (result.written, result.written_earlier) == (N - len(before), 0)
    _adds_up(result)
