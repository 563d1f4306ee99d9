"""The one place that builds boto3 sessions and clients.

Retries are pinned (botocore ``standard`` mode, explicit attempts) and timeouts explicit, so
behaviour does not drift with botocore's defaults. Endpoints, credentials and region come
from the standard AWS places (profiles, ``AWS_*`` variables including ``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_DYNAMODB`` and ``AWS_ENDPOINT_URL_S3``), so the same code runs against AWS,
DynamoDB Local, LocalStack or a moto server.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from schemas.errors import AwsError, CredentialsError, DdbLakeError, NotFoundError, UsageError

TOTAL_ATTEMPTS = 8
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 70

_CREDENTIAL_CODES = frozenset({
    "ExpiredToken", "ExpiredTokenException", "UnrecognizedClientException",
    "InvalidAccessKeyId", "InvalidClientTokenId", "SignatureDoesNotMatch", "403",
})
_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})


def client_config(**overrides: Any) -> Config:
    settings: dict[str, Any] = {
        "retries": {"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS},
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        # moto (and some emulators) do not route account-ID endpoints (reliability.md §0.6).
        "account_id_endpoint_mode": "disabled",
        "max_pool_connections": 32,
    }
    settings.update(overrides)
    return Config(**settings)


def make_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except BotoCoreError as e:
        raise UsageError(f"cannot load AWS profile {profile!r}: {e}",
                         hint="check ~/.aws/config or pass --profile with an existing name") from e


def make_client(service: str, session: boto3.Session | None = None, **config: Any) -> Any:
    """A low-level client with ddblake's pinned retry and timeout settings."""
    session = session or boto3.Session()
    try:
        return session.client(service, config=client_config(**config))
    except NoRegionError as e:
        raise UsageError("no AWS region is configured",
                         hint="set AWS_REGION (or AWS_DEFAULT_REGION), or pass --region") from e


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def translate(error: BaseException, *, action: str, resource: str) -> DdbLakeError:
    """Map a botocore error to ddblake's error family with a hint of what to do next."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return CredentialsError(f"no AWS credentials found while trying to {action}",
                                hint="configure credentials (aws configure, AWS_PROFILE, or "
                                     "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    if isinstance(error, ClientError):
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "")
        if code in _CREDENTIAL_CODES:
            return CredentialsError(f"AWS rejected the credentials while trying to {action} "
                                    f"({code}: {message})",
                                    hint="refresh your credentials (e.g. `aws sso login`) and "
                                         "re-run with --resume")
        if code in _DENIED_CODES:
            return AwsError(f"access denied: cannot {action} {resource} ({message})",
                            hint="grant the IAM permission named in the message; the README "
                                 "lists what each command needs")
        if code in ("ResourceNotFoundException", "NoSuchKey", "404", "NotFound"):
            return NotFoundError(f"{resource} was not found while trying to {action}",
                                 hint="check the name, the region (AWS_REGION) and the endpoint")
        if code == "NoSuchBucket":
            return NotFoundError(f"bucket of {resource} does not exist",
                                 hint="create it first (aws s3 mb s3://BUCKET) or fix --lake")
        return AwsError(f"cannot {action} {resource}: {code}: {message}")
    return AwsError(f"cannot {action} {resource}: {error}")
