"""Typed cells of format 2 from the values read out of canonical item texts.

The values arrive as the pyarrow JSON reader gives them (numbers and base64 as text, sets as
lists of text). A value goes into its cell only when the cell renders it back to the same
text (see :func:`schemas.rowtext.number_pattern`); otherwise the cell is null and the value
is handed back as a *held-out* (row, attribute value) to keep in ``_rest``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.arrowbytes import base64_decode
from schemas.rowtext import number_pattern

HeldOut = list[tuple[int, dict[str, Any]]]  # (row, DynamoDB attribute value)
# Standard base64 with padding whose unused bits are zero: exactly the texts that decoding
# and encoding again give back.
CANONICAL_BASE64 = ("^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|"
                    "[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$")

# What the JSON reader is asked for, per column kind.
READ_TYPES: dict[str, pa.DataType] = {
    "S": pa.string(), "N": pa.string(), "B": pa.string(), "BOOL": pa.bool_(),
    "SS": pa.list_(pa.string()), "NS": pa.list_(pa.string()), "BS": pa.list_(pa.string()),
}


def _null_where(values: pa.Array, drop: pa.Array) -> pa.Array:
    return pc.if_else(drop, pa.scalar(None, values.type), values)


def _held_out(values: pa.Array, drop: pa.Array, tag: str) -> HeldOut:
    rows = pc.indices_nonzero(drop)
    return [(row, {tag: value}) for row, value in
            zip(rows.to_pylist(), pc.take(values, rows).to_pylist(), strict=True)]


def number_cells(texts: pa.Array, scale: int) -> tuple[pa.Array, HeldOut]:
    """N texts -> decimal128(38, scale) cells; texts that are not canonical decimals of that
    scale (exponents, too many digits, ``-0``, ``1.0``) are held out."""
    held = pc.fill_null(pc.match_substring_regex(texts, number_pattern(scale)), True)
    drop = pc.invert(held)
    kept = _null_where(texts, drop)
    return pc.cast(kept, pa.decimal128(38, scale)), _held_out(texts, drop, "N")


def _list_all(lists: pa.Array, members_ok: pa.Array) -> pa.Array:
    """Per list: True when every member is ok (null lists: True)."""
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    bad = np.bincount(parents, weights=np.asarray(pc.invert(members_ok), dtype=np.float64),
                      minlength=len(lists)) if len(parents) else np.zeros(len(lists))
    return pa.array(bad == 0)


def number_set_cells(lists: pa.Array, scale: int) -> tuple[pa.Array, HeldOut]:
    """NS lists -> list<decimal128(38, scale)> when every member is held, else held out."""
    members = pc.list_flatten(lists)
    ok = pc.fill_null(pc.match_substring_regex(members, number_pattern(scale)), False)
    drop = pc.and_(pc.invert(_list_all(lists, ok)), pc.is_valid(lists))
    kept = _null_where(lists, drop)
    return pc.cast(kept, pa.list_(pa.decimal128(38, scale))), _held_out(lists, drop, "NS")


def binary_cells(texts: pa.Array) -> tuple[pa.Array, HeldOut]:
    """B base64 texts -> binary cells; texts that are not canonical base64 are held out."""
    canonical = pc.fill_null(pc.match_substring_regex(texts, CANONICAL_BASE64), True)
    drop = pc.invert(canonical)
    return base64_decode(_null_where(texts, drop)), _held_out(texts, drop, "B")


def binary_set_cells(lists: pa.Array) -> tuple[pa.Array, HeldOut]:
    """BS lists of base64 -> list<binary>, held out unless every member is canonical."""
    members = pc.list_flatten(lists)
    ok = pc.fill_null(pc.match_substring_regex(members, CANONICAL_BASE64), False)
    drop = pc.and_(pc.invert(_list_all(lists, ok)), pc.is_valid(lists))
    kept = _null_where(lists, drop)
    start = kept.offsets[0].as_py()
    size = kept.offsets[-1].as_py() - start
    decoded = base64_decode(kept.values.slice(start, size))
    cells = pa.ListArray.from_arrays(pc.subtract(kept.offsets, start), decoded,
                                     mask=kept.is_null())
    return cells, _held_out(lists, drop, "BS")


def cells_for(kind: str, values: pa.Array, scale: int) -> tuple[pa.Array, HeldOut]:
    """The column of ``kind`` from the reader's values of the attribute's tag ``kind``."""
    convert: dict[str, Callable[[pa.Array], tuple[pa.Array, HeldOut]]] = {
        "N": lambda v: number_cells(v, scale), "NS": lambda v: number_set_cells(v, scale),
        "B": binary_cells, "BS": binary_set_cells,
    }
    if kind in convert:
        return convert[kind](values)
    return values, []


def python_values(items: list[dict[str, Any]], name: str, tag: str, *, other_tags: bool = False
                  ) -> tuple[pa.Array, HeldOut]:
    """The reader's values of ``name``'s ``tag``, made in Python when the JSON reader refused
    the part (a value of the wrong JSON type, e.g. ``{"S": 5}``): such values are held out,
    and with ``other_tags`` so is a value with another tag than ``tag``."""
    values: list[Any] = []
    held: HeldOut = []
    read_type = READ_TYPES[tag]
    for row, item in enumerate(items):
        av = item.get(name)
        value = av.get(tag) if isinstance(av, dict) and len(av) == 1 else None
        if (value is not None and not _fits(value, tag)) or (
                other_tags and value is None and name in item):
            held.append((row, av))  # type: ignore[arg-type]
            value = None
        values.append(value)
    return pa.array(values, read_type), held


def _fits(value: Any, tag: str) -> bool:
    if tag == "BOOL":
        return isinstance(value, bool)
    if tag in ("S", "N", "B"):
        return isinstance(value, str)
    return isinstance(value, list) and all(isinstance(m, str) for m in value)
