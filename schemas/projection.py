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
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MAX_NAME_BYTES = 255


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


TAGS = ("S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "M", "L")


def _max_scale(strings: pa.Array) -> int:
    """The largest number of digits after the point among exact number texts."""
    if pc.any(pc.match_substring(strings, "e", ignore_case=True)).as_py():
        scales = [max(0, -int(Decimal(t).as_tuple().exponent))
                  for t in strings.drop_null().to_pylist()]
        return max(scales, default=0)
    point = pc.find_substring(strings, ".")
    after = pc.subtract(pc.subtract(pc.utf8_length(strings), point), 1)
    scale = pc.max(pc.if_else(pc.greater_equal(point, 0), after, 0)).as_py()
    return int(scale or 0)


def _number_array(strings: pa.Array) -> tuple[pa.Array | None, str]:
    """int64 when every value is an integer in range, else decimal128(38, s) when it fits.
    Arrow's casts parse the exact text and refuse (never round or overflow) what does not
    fit, so a refusal means "no typed column", never a wrong value."""
    with contextlib.suppress(pa.ArrowInvalid):
        return pc.cast(strings, pa.int64()), "int64"
    scale = _max_scale(strings)
    if scale > 38:
        return None, "numbers outside decimal128(38, s)"
    arrow_type = pa.decimal128(38, scale)
    try:
        return pc.cast(strings, arrow_type), str(arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None, "numbers outside decimal128(38, s)"


def _binary(values: pa.Array, *, nested: bool) -> pa.Array:
    decode = base64.b64decode
    if nested:
        rows = [None if v is None else [decode(b) for b in v] for v in values.to_pylist()]
        return pa.array(rows, pa.list_(pa.binary()))
    return pa.array([None if v is None else decode(v) for v in values.to_pylist()], pa.binary())


def types_present(attribute: pa.StructArray) -> list[str]:
    """The DynamoDB types an attribute takes in a part (from its per-tag struct column)."""
    return [tag for tag in TAGS if attribute.field(tag).null_count < len(attribute)]


def project_column(name: str, attribute: pa.StructArray,
                   *, case_collision: bool) -> tuple[ColumnDecision, pa.Array | None]:
    """Decide one attribute's column for a part and build it (or not).

    ``attribute`` has one field per type tag (see ``schemas.codec``); a row where the
    attribute is absent is null."""
    tags = types_present(attribute)
    decision = plan_column(name, tags, case_collision=case_collision)
    if decision is not None:
        return decision, None
    return typed_column(name, tags[0], attribute.field(tags[0]))


def plan_column(name: str, tags: list[str], *, case_collision: bool) -> ColumnDecision | None:
    """The decision for an attribute that gets no column, from its name and the types it
    takes in the part (in ``TAGS`` order); None when it needs a column of type ``tags[0]``
    (then call :func:`typed_column` with that tag's values)."""
    dynamo_type = "/".join(tags)
    problem = name_problem(name)
    if problem is None and case_collision:
        problem = "another attribute has the same name ignoring case"
    if problem is None and len(tags) > 1:
        problem = f"mixed types {dynamo_type}"
    if problem is not None:
        return ColumnDecision(name, dynamo_type, None, problem)
    tag = tags[0]
    if tag in ("M", "L", "NULL"):
        return ColumnDecision(name, tag, None, f"{tag} stays in _item")
    return None


def typed_column(name: str, tag: str, values: pa.Array | pa.ChunkedArray
                 ) -> tuple[ColumnDecision, pa.Array | pa.ChunkedArray | None]:
    """Build the typed column of a single-type attribute from its tag's values (null where
    the attribute is absent), or decide it stays spine-only (numbers that do not fit)."""
    if tag == "N":
        array, type_name = _number_array(values)
        if array is None:
            return ColumnDecision(name, tag, None, type_name), None
        return ColumnDecision(name, tag, type_name), array
    array = _binary(values, nested=tag == "BS") if tag in ("B", "BS") else values
    return ColumnDecision(name, tag, str(array.type)), array


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
