"""Helpers for exporter tests: items of every type, reading a snapshot back, fault injection
at the botocore wire level (reliability.md section 5.1)."""

from __future__ import annotations

import base64
from typing import Any

import pyarrow.parquet as pq
from botocore.exceptions import ConnectionClosedError

from lake import layout
from lake.fileio import FileIO
from schemas.codec import decode_items
from schemas.dynamo_json import Item
from schemas.manifest import Manifest
from tests.faults import aws_error


def typed_items(n: int) -> list[Item]:
    """Wire-form items using every DynamoDB type (B as base64 text)."""
    items = []
    for i in range(n):
        blob = base64.b64encode(bytes([i % 256, 0, 255, 7])).decode()
        items.append({
            "pk": {"S": f"user#{i:04d}"}, "sk": {"N": str(i * 7)},
            "name": {"S": f"naïve 名前 {i}"}, "big": {"N": "12345678901234567890123456789.0123456"},
            "small": {"N": "-0.000000000000000000000000000000000001"},
            "blob": {"B": blob}, "flag": {"BOOL": i % 2 == 0}, "nothing": {"NULL": True},
            "map": {"M": {"a": {"N": "1"}, "b": {"L": [{"S": "x"}, {"N": "2.50"}]},
                          "c": {"M": {"deep": {"B": blob}}}}},
            "list": {"L": [{"BOOL": False}, {"NULL": True}, {"SS": ["q", "p"]}]},
            "ss": {"SS": ["b", "a", f"c{i}"]}, "ns": {"NS": ["3", "1.5", "-2"]},
            "bs": {"BS": [blob, base64.b64encode(b"z").decode()]},
            "empty_s": {"S": ""},
        })
    return items


def read_snapshot(io: FileIO, manifest: Manifest) -> list[Item]:
    items: list[Item] = []
    for part in manifest.parts:
        key = layout.snapshot_part(manifest.table, manifest.snapshot_id, part.path)
        items.extend(decode_items(pq.read_table(io.full_uri(key))))
    return items


def part_items(io: FileIO, manifest: Manifest) -> dict[str, list[Item]]:
    found = {}
    for part in manifest.parts:
        key = layout.snapshot_part(manifest.table, manifest.snapshot_id, part.path)
        found[part.path] = list(decode_items(pq.read_table(io.full_uri(key))))
    return found


ddb_error = aws_error


class FaultInjector:
    """``before-send`` handler: ``plan[i]`` is the fault for the i-th request (None = pass)."""

    def __init__(self, plan: list[str | None] | None = None, *, after: int = 0,
                 forever: str | None = None) -> None:
        self.plan = list(plan or [])
        self.after = after
        self.forever = forever
        self.calls = 0

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.after:
            return None
        fault = self.plan.pop(0) if self.plan else self.forever
        if fault is None:
            return None
        if fault == "throttle":
            return ddb_error(request, 400, "ProvisionedThroughputExceededException")
        if fault == "expired":
            return ddb_error(request, 400, "ExpiredTokenException")
        if fault == "denied":
            return ddb_error(request, 400, "AccessDeniedException")
        if fault == "500":
            return ddb_error(request, 500, "InternalServerError")
        if fault == "reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        raise AssertionError(f"unknown fault {fault}")


def no_backoff(monkeypatch: Any) -> None:
    """No sleeping in botocore's retries or in the exporter's own retry loop."""
    import botocore.retries.standard as standard

    import exporter.pages as pages

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0.0)
    monkeypatch.setattr(pages, "BACKOFF_BASE_S", 0.0)
