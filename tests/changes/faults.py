"""Faults moto cannot produce, injected at the botocore level (reliability.md §5.1), and a
FileIO that "dies" at a chosen write (a crash simulated at every step of a commit)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse

from lake.fileio import LocalFileIO, WriteOptions
from tests.faults import aws_error


def streams_error(request: Any, code: str, status: int = 400) -> AWSResponse:
    return aws_error(request, status, code)


class Inject:
    """Answer the listed calls (1-based call numbers) with an error code; others go to moto."""

    def __init__(self, code: str, calls: set[int], when: Any = None) -> None:
        self.code, self.calls, self.when, self.seen = code, calls, when, 0
        self.injected = 0

    def __call__(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        if self.when is not None and not self.when(json.loads(request.body or b"{}")):
            return None
        self.seen += 1
        if self.seen in self.calls:
            self.injected += 1
            return streams_error(request, self.code)
        return None


class Killed(BaseException):
    """A simulated SIGKILL: not an Exception, so nothing in the library catches it."""


class DyingFileIO(LocalFileIO):
    """Raises :class:`Killed` instead of performing its ``die_at``-th mutation."""

    def __init__(self, root: Path, die_at: int) -> None:
        super().__init__(root)
        self.die_at, self.mutations = die_at, 0

    def _step(self) -> None:
        self.mutations += 1
        if self.mutations == self.die_at:
            raise Killed(f"killed before mutation {self.die_at}")

    def write(self, key: str, data: bytes) -> None:
        self._step()
        super().write(key, data)

    def create(self, key: str, data: bytes) -> None:
        self._step()
        super().create(key, data)

    def put_file(self, key: str, local_path: Path, options: WriteOptions | None = None) -> None:
        self._step()
        super().put_file(key, local_path, options)
