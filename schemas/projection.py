"""Typed projections: which top-level attributes get a column of their own, and of what type.

A projection is a convenience for SQL; the spine (``_item``) is the truth. Rules (per part):

- the attribute has exactly one DynamoDB type in the part, and a safe name: not empty,
  at most 255 UTF-8 bytes, not starting with ``_`` (reserved for ddblake's own columns),
  and no other attribute with the same name ignoring case (DuckDB binds names
  case-insensitively, so ``Name``/``name`` would be ambiguous);
- S -> string, BOOL -> bool, B -> binary, SS -> list<string>, BS -> list<binary>,
  NS -> list<string> (exact text), N -> int64 when every value is an integer in range, else
  decimal128(38, s) when integer digits + s <= 38, else no column;
- M, L and NULL stay in the spine only.

:func:`reconcile` turns the per-part decisions into one decision per attribute for the
snapshot, which the query layer uses to cast or hide part columns.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

MAX_NAME_BYTES = 255
_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)


@dataclass(frozen=True)
class ColumnDecision:
    """``type`` is an Arrow type string (``"int64"``, ``"decimal128(38, 2)"``, ...) or None
    when the attribute stays spine-only, in which case ``reason`` says why."""

    name: str
    dynamo_type: str
    type: str | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dynamo_type": self.dynamo_type, "type": self.type,
                "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnDecision:
        return cls(data["name"], data["dynamo_type"], data.get("type"), data.get("reason"))


def name_problem(name: str) -> str | None:
    if not name:
        return "empty name"
    if name.startswith("_"):
        return "name starts with '_' (reserved for ddblake columns)"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"name longer than {MAX_NAME_BYTES} bytes"
    return None


def _spread(rows: list[int], values: list[Any], n: int) -> list[Any]:
    if len(rows) == n:
        return values
    full: list[Any] = [None] * n
    for row, value in zip(rows, values, strict=True):
        full[row] = value
    return full


def _int_or_none(text: str) -> int | None:
    digits = text[1:] if text[:1] in "+-" else text
    if digits.isdigit() and len(digits) <= 18:
        return int(text)
    return None


def _number_array(rows: list[int], texts: list[str], n: int) -> tuple[pa.Array | None, str]:
    ints = [_int_or_none(t) for t in texts]
    if None not in ints:
        return pa.array(_spread(rows, ints, n), pa.int64()), "int64"
    values = [Decimal(t) for t in texts]
    if all(v == v.to_integral_value() and _INT64_MIN <= v <= _INT64_MAX for v in values):
        return pa.array(_spread(rows, [int(v) for v in values], n), pa.int64()), "int64"
    scale = 0
    int_digits = 1
    for v in values:
        _sign, digits, exponent = v.as_tuple()
        assert isinstance(exponent, int)
        scale = max(scale, -exponent)
        int_digits = max(int_digits, len(digits) + exponent)
    if scale > 38 or int_digits + scale > 38:
        return None, "numbers outside decimal128(38, s)"
    arrow_type = pa.decimal128(38, scale)
    return pa.array(_spread(rows, values, n), arrow_type), str(arrow_type)


def project_column(name: str, tags: set[str], rows: list[int], values: list[Any], n: int,
                   *, case_collision: bool) -> tuple[ColumnDecision, pa.Array | None]:
    """Decide one attribute's column for a part and build it (or not)."""
    dynamo_type = "/".join(sorted(tags))
    problem = name_problem(name)
    if problem is None and case_collision:
        problem = "another attribute has the same name ignoring case"
    if problem is None and len(tags) > 1:
        problem = f"mixed types {dynamo_type}"
    if problem is not None:
        return ColumnDecision(name, dynamo_type, None, problem), None
    tag = next(iter(tags))
    array: pa.Array | None
    if tag == "S":
        array, type_name = pa.array(_spread(rows, values, n), pa.string()), "string"
    elif tag == "BOOL":
        array, type_name = pa.array(_spread(rows, values, n), pa.bool_()), "bool"
    elif tag == "B":
        raw = [base64.b64decode(v) for v in values]
        array, type_name = pa.array(_spread(rows, raw, n), pa.binary()), "binary"
    elif tag in ("SS", "NS"):
        array = pa.array(_spread(rows, values, n), pa.list_(pa.string()))
        type_name = "list<item: string>"
    elif tag == "BS":
        raw_sets = [[base64.b64decode(b) for b in v] for v in values]
        array = pa.array(_spread(rows, raw_sets, n), pa.list_(pa.binary()))
        type_name = "list<item: binary>"
    elif tag == "N":
        array, type_name = _number_array(rows, values, n)
        if array is None:
            return ColumnDecision(name, tag, None, type_name), None
    else:
        return ColumnDecision(name, tag, None, f"{tag} stays in _item"), None
    return ColumnDecision(name, tag, type_name), array


def _decimal_scale(type_name: str) -> int | None:
    if type_name.startswith("decimal128(38, "):
        return int(type_name[len("decimal128(38, "):-1])
    return None


def reconcile(per_part: Iterable[Iterable[ColumnDecision]]) -> list[ColumnDecision]:
    """One decision per attribute across all parts of a snapshot."""
    seen: dict[str, list[ColumnDecision]] = {}
    for decisions in per_part:
        for d in decisions:
            seen.setdefault(d.name, []).append(d)
    lowered: dict[str, int] = {}
    for name in seen:
        lowered[name.lower()] = lowered.get(name.lower(), 0) + 1
    result = []
    for name, ds in sorted(seen.items()):
        tags = sorted({t for d in ds for t in d.dynamo_type.split("/")})
        dynamo_type = "/".join(tags)
        spine_only = [d for d in ds if d.type is None]
        if lowered[name.lower()] > 1:
            result.append(ColumnDecision(name, dynamo_type, None,
                                         "another attribute has the same name ignoring case"))
        elif len(tags) > 1:
            result.append(ColumnDecision(name, dynamo_type, None, f"mixed types {dynamo_type}"))
        elif spine_only:
            result.append(ColumnDecision(name, dynamo_type, None, spine_only[0].reason))
        else:
            result.append(_merge_types(name, dynamo_type, [d.type for d in ds if d.type]))
    return result


def _merge_types(name: str, dynamo_type: str, types: list[str]) -> ColumnDecision:
    distinct = set(types)
    if len(distinct) == 1:
        return ColumnDecision(name, dynamo_type, types[0])
    scales = [_decimal_scale(t) for t in distinct if t != "int64"]
    if all(s is not None for s in scales) and distinct <= {"int64", *(t for t in distinct
                                                                       if t != "int64")}:
        scale = max(s for s in scales if s is not None)
        if "int64" in distinct and 19 + scale > 38:
            return ColumnDecision(name, dynamo_type, None, "numbers outside decimal128(38, s)")
        return ColumnDecision(name, dynamo_type, f"decimal128(38, {scale})")
    return ColumnDecision(name, dynamo_type, None, f"part types differ: {sorted(distinct)}")
