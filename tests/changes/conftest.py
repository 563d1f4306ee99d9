"""Fixtures for change capture: a table with a NEW_AND_OLD_IMAGES stream in moto."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from lake.aws import make_client
from lake.fileio import LocalFileIO
from tests.helpers import REGION, create_table

STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


@pytest.fixture
def clients(aws: None) -> tuple[Any, Any]:
    """(dynamodb, dynamodbstreams) low-level clients built the way ddblake builds them."""
    session = boto3.Session(region_name=REGION)
    return make_client("dynamodb", session), make_client("dynamodbstreams", session)


@pytest.fixture
def streamed_table(clients: tuple[Any, Any]) -> str:
    ddb, _ = clients
    create_table(ddb, "orders", sk=("sk", "N"), StreamSpecification=STREAM)
    return "orders"


@pytest.fixture
def lake(lake_dir: Path) -> LocalFileIO:
    return LocalFileIO(lake_dir)
