"""A restore the target's IAM policy does not allow: a clear error naming the action and
the table, exit code 8, never an empty message (issue 13: a 403 arrived with none)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from restorer.rawhttp import _result
from restorer.transport import access_error
from schemas.errors import AwsError, CredentialsError
from tests.helpers import REGION, create_table, put_items, run_cli
from tests.restorer.lakehelp import snapshot_table

XML_DENIED = (b'<?xml version="1.0" encoding="utf-8"?>\n<ErrorResponse><Errors><Error>'
              b"<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/r is "
              b"not authorized to perform: dynamodb:BatchWriteItem</Message>"
              b"<Type>Sender</Type></Error></Errors></ErrorResponse>")


def _raw_error(status: int, body: bytes, operation: str = "BatchWriteItem") -> ClientError:
    with pytest.raises(ClientError) as e:
        _result(operation, status, body)
    return e.value


@pytest.mark.parametrize("body", [b"", b"<html>Forbidden</html>", XML_DENIED,
                                  b'{"__type":"com.amazon.coral.service#AccessDeniedException",'
                                  b'"Message":"not authorized"}'])
def test_a_403_names_the_action_and_the_table(body: bytes) -> None:
    error = access_error(_raw_error(403, body), "orders-restored", doing="write to")
    assert isinstance(error, AwsError) and not isinstance(error, CredentialsError)
    assert error.exit_code == 8
    assert "dynamodb:BatchWriteItem on table orders-restored" in error.message
    assert "table/orders-restored" in (error.hint or "") and "--resume" in (error.hint or "")
    if body in (b"", b"<html>Forbidden</html>"):
        assert "AWS answered 403 with no reason" in error.message
    else:
        assert "not authorized" in error.message


def test_a_conditional_put_403_names_put_item() -> None:
    error = access_error(_raw_error(403, b"", "PutItem"), "t", doing="write to")
    assert "dynamodb:PutItem on table t" in error.message


def test_bad_credentials_stay_a_credentials_error() -> None:
    body = b'{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"bad"}'
    error = access_error(_raw_error(400, body), "t", doing="write to")
    assert isinstance(error, CredentialsError) and "aws sso login" in (error.hint or "")


def _restricted_user(lake: Path, name: str) -> dict[str, str]:
    """A snapshot of table ``name`` in the lake; the keys of a user ``name`` that may do
    anything in DynamoDB but BatchWriteItem (the moto server is shared: names differ)."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    create_table(ddb, name)
    put_items(ddb, name, [{"pk": {"S": f"k{i}"}} for i in range(30)])
    snapshot_table(ddb, lake, name)
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "dynamodb:BatchWriteItem", "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="no-batch-write",
                        PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


@pytest.mark.parametrize("transport", ["auto", "botocore"])  # auto: the raw transport here
def test_restore_without_batch_write_permission(server_env: dict[str, str], lake_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str],
                                                transport: str) -> None:
    from moto.core import set_initial_no_auth_action_count

    source = f"denied-{transport}"
    for name, value in _restricted_user(lake_dir, source).items():
        monkeypatch.setenv(name, value)

    @set_initial_no_auth_action_count(0)  # the moto server enforces IAM from now on
    def as_restricted_user() -> tuple[int, str, str]:
        return run_cli(capsys, "restore", source, "--lake", str(lake_dir), "--to",
                       f"dst-{transport}", "--transport", transport, "-q")

    code, _, err = as_restricted_user()
    assert code == 8, err
    assert ("access denied: the AWS identity in use may not call dynamodb:BatchWriteItem on "
            f"table dst-{transport}") in err
    assert f"AccessDenied: User: arn:aws:iam::123456789012:user/{source}" in err
    assert "Traceback" not in err
    assert ("hint: allow dynamodb:BatchWriteItem on arn:aws:dynamodb:REGION:ACCOUNT:table/"
            f"dst-{transport}") in err
