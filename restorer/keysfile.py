"""``restore --keys FILE``: the keys to restore, read as untrusted text.

Two formats, told apart by the first non-blank character:

- JSON lines (``{``): one object per line with the key attributes, plain
  (``{"id": "a", "n": 7}``) or DynamoDB-typed (``{"id": {"S": "a"}}``); other attributes
  are ignored, so whole items may be passed.
- CSV: a header line naming the key attributes (other columns are ignored), then one key
  per line.

A UTF-8 byte order mark is accepted. A file that is not UTF-8 text (a NUL byte, an
invalid sequence), a line that is not a key (bad JSON, a missing or mistyped attribute,
a number that is not a number, B keys that are not base64), is refused naming the line.
``N`` keys are normalized (``7.0`` is ``7``), ``B`` keys re-encoded as canonical base64,
so keys compare by DynamoDB value. Duplicates are dropped. The result is Arrow data, never
SQL text.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import csv
import itertools
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from schemas.dynamo_json import normalize_number
from schemas.errors import UsageError
from schemas.keys import KeyAttribute, KeySchema

KEY_ROW = "_ddblake_key"
_TYPE_WORDS = {"S": "a string", "N": "a number", "B": "base64 binary"}


def load_keys(path: str, keys: KeySchema) -> pa.Table:
    """The distinct keys of ``path`` as columns ``k0`` (``k1``) of comparable text, and
    ``_ddblake_key``, the number of the key (0, 1, ...)."""
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"keys file {path} does not exist",
                         hint="pass a CSV file with a header, or JSON lines")
    lines = _lines(path, file)
    first = next(lines, None)
    while first is not None and not first[1].strip():
        first = next(lines, None)
    if first is None:
        rows: Iterator[tuple[int, dict[str, Any]]] = iter(())
    else:
        chained = itertools.chain([first], lines)
        rows = _json_rows(path, chained) if first[1].lstrip().startswith("{") else \
            _csv_rows(path, chained, keys)
    found: dict[tuple[str, ...], None] = {}
    for n, row in rows:
        where = f"keys file {path} line {n}"
        found[tuple(_plain(row, attr, where) for attr in keys.attributes)] = None
    columns = {f"k{i}": pa.array([k[i] for k in found], pa.string())
               for i in range(len(keys.attributes))}
    columns[KEY_ROW] = pa.array(range(len(found)), pa.int64())
    return pa.table(columns)


def _lines(path: str, file: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file; a BOM is dropped, binary is refused."""
    with open(file, "rb") as f:
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            if b"\x00" in raw:
                raise UsageError(f"keys file {path} line {n} holds a NUL byte: it is not a "
                                 "text file", hint=_hint())
            try:
                yield n, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise UsageError(f"keys file {path} line {n} is not UTF-8 text "
                                 f"({e.reason} at byte {e.start + 1}; a binary file?)",
                                 hint=_hint()) from e


def _json_rows(path: str, lines: Iterator[tuple[int, str]]
               ) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, line in lines:
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_float=str, parse_int=str)
        except (ValueError, RecursionError) as e:
            raise UsageError(f"keys file {path} line {n} is not a JSON object: {e}",
                             hint=_hint()) from e
        if not isinstance(row, dict):
            raise UsageError(f"keys file {path} line {n} is not a JSON object",
                             hint=_hint())
        yield n, row


def _csv_rows(path: str, lines: Iterator[tuple[int, str]], keys: KeySchema
              ) -> Iterator[tuple[int, dict[str, Any]]]:
    numbers: list[int] = []

    def texts() -> Iterator[str]:
        for n, line in lines:
            numbers.append(n)
            yield line

    reader = csv.reader(texts(), strict=True)
    try:
        header = next(reader)
        missing = [a.name for a in keys.attributes if a.name not in header]
        if missing:
            raise UsageError(f"keys file {path} line {numbers[-1]}: the CSV header has no "
                             f"column {', '.join(map(repr, missing))}", hint=_hint(keys))
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise UsageError(f"keys file {path} line {numbers[-1]} has {len(fields)} "
                                 f"fields, the header {len(header)}", hint=_hint(keys))
            yield numbers[-1], dict(zip(header, fields, strict=True))
    except csv.Error as e:
        raise UsageError(f"keys file {path} line {numbers[-1] if numbers else 1} is not "
                         f"CSV: {e}", hint=_hint(keys)) from e


def _plain(row: dict[str, Any], attr: KeyAttribute, where: str) -> str:
    """The comparable text of key ``attr`` in ``row``."""
    if attr.name not in row:
        raise UsageError(f"{where}: no key attribute {attr.name!r}", hint=_hint())
    value = row[attr.name]
    if isinstance(value, dict):
        if len(value) != 1 or attr.type not in value:
            raise UsageError(f"{where}: key {attr.name} must be of type {attr.type}, "
                             f"got {json.dumps(value)[:80]}", hint=_hint())
        value = value[attr.type]
    if not isinstance(value, str) or value == "":
        shown = "missing" if value in ("", None) else f"not {_TYPE_WORDS[attr.type]}"
        raise UsageError(f"{where}: key {attr.name} is {shown}", hint=_hint())
    if attr.type == "N":
        try:
            if not Decimal(value).is_finite():
                raise ValueError(value)
            return normalize_number(value)
        except (ArithmeticError, ValueError) as e:
            raise UsageError(f"{where}: key {attr.name} {value[:40]!r} is not a number",
                             hint=_hint()) from e
    if attr.type == "B":
        try:
            return base64.b64encode(base64.b64decode(value, validate=True)).decode("ascii")
        except (binascii.Error, ValueError) as e:
            raise UsageError(f"{where}: key {attr.name} is not base64", hint=_hint()) from e
    return value


def _hint(keys: KeySchema | None = None) -> str:
    names = f" (the key is {', '.join(keys.names)})" if keys else ""
    return ("a keys file is UTF-8 CSV with a header naming the key attributes, or JSON lines "
            f"such as {{\"id\": \"a\"}} or {{\"id\": {{\"S\": \"a\"}}}}{names}")
