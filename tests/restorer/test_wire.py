"""Our SigV4 signer signs exactly as botocore does; our HTTP/1.1 connection reads every
response framing and reopens a connection the server closed while idle."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from restorer.wire import Connection, Signer

BODY = b'{"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"\xc3\xa9"}}}}]}}'
TARGET = "DynamoDB_20120810.BatchWriteItem"


def _botocore(credentials: Credentials, endpoint: str, when: datetime) -> dict[str, str]:
    request = AWSRequest("POST", endpoint, data=BODY, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TARGET})
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(credentials, "dynamodb", "eu-west-3").add_auth(request)
    return {k.lower(): v for k, v in request.headers.items()}


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:8123", "https://dynamodb.eu-west-3"
                                      ".amazonaws.com", "http://LocalHost:80/"])
@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////token+/="])
def test_signature_equals_botocore(endpoint: str, token: str | None) -> None:
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    signer = Signer(credentials, "eu-west-3", endpoint)
    for when in (datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC),
                 datetime(2026, 11, 23, 0, 0, 1, tzinfo=UTC)):  # a new signing key
        ours = signer.headers(TARGET, BODY, now=when)
        theirs = _botocore(credentials, endpoint, when)
        assert ours["authorization"] == theirs["authorization"]
        assert ours["x-amz-date"] == theirs["x-amz-date"]
        assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token")
    assert signer.headers(TARGET, BODY + b" ", now=when)["authorization"] != \
        ours["authorization"]  # the body is signed


class Scripted:
    """A one-connection-at-a-time server on 127.0.0.1 that answers each request with the
    next scripted response (bytes), or closes the connection when the script says None."""

    def __init__(self, script: list[bytes | None]) -> None:
        self.script = script
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.script:
            conn, _ = self.server.accept()
            self.connections += 1
            with conn, conn.makefile("rb") as f:
                while self.script:
                    length = 0
                    while (line := f.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    if not line:
                        break
                    f.read(length)
                    answer = self.script.pop(0)
                    if answer is None:
                        break
                    conn.sendall(answer)


@pytest.fixture
def scripted() -> Iterator[type[Scripted]]:
    yield Scripted


def test_framings_and_reconnect(scripted: type[Scripted]) -> None:
    server = scripted([
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n",
        None,  # the server drops the kept-alive connection: resent on a new one
        b"HTTP/1.1 400 Bad\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof",
    ])
    conn = Connection(f"http://127.0.0.1:{server.port}", timeout=5)
    assert conn.post("/", {"host": "x"}, b"1") == (200, b"{}")
    assert conn.post("/", {"host": "x"}, b"2") == (200, b'{"a":1}')
    assert conn.post("/", {"host": "x"}, b"3") == (400, b"nope")
    assert conn.post("/", {"host": "x"}, b"4") == (200, b"until-eof")
    assert server.connections == 3


def test_a_new_connection_that_fails_raises(scripted: type[Scripted]) -> None:
    server = scripted([None])
    conn = Connection(f"http://127.0.0.1:{server.port}", timeout=5)
    with pytest.raises(ConnectionError):
        conn.post("/", {"host": "x"}, b"1")
