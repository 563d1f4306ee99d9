"""An embedded AWS for trying ddblake with no account: moto's server on 127.0.0.1.

It serves DynamoDB, DynamoDB Streams and S3 on a free local port. Point any ddblake (or
AWS CLI / boto3) command at it with the variables from :meth:`EmbeddedAws.environment`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"


@dataclass
class EmbeddedAws:
    """A running moto server; use as a context manager or call :meth:`stop`."""

    port: int = 0
    _server: Any = field(default=None, repr=False)
    endpoint: str = ""

    def start(self) -> EmbeddedAws:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def environment(self) -> dict[str, str]:
        """Variables that point boto3, the AWS CLI and ddblake at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
