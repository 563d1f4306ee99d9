"""Format 2 rows -> the canonical text of their items (decision 001), byte for byte.

This is the one decoder of format 2: the writer proves every row with it before a part is
written (:mod:`schemas.rowcodec`), and restore, verify and ``decode_items`` read with it.

Each column becomes an array of JSON fragments (``,"name":{"S":"..."}``), built with Arrow
kernels; the fragments of a row are concatenated in attribute-name order (the order of
orjson's ``OPT_SORT_KEYS``, code points). Strings that need JSON escapes, binary values
(base64), numbers Arrow prints in scientific notation, and rows with a ``_rest`` are done in
Python with orjson, so every text is exactly what ``schemas.dynamo_json.canonical_bytes``
writes for the item.
"""

from __future__ import annotations

import binascii
import re
from decimal import Decimal
from typing import Any, TypeAlias

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from schemas.dynamo_json import WIDE
from schemas.errors import CorruptDataError
from schemas.table_schema import REST, TableSchema

_SORT = orjson.OPT_SORT_KEYS
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
_ESCAPES = re.compile(_NEEDS_ESCAPE.encode("ascii"))
_Columns: TypeAlias = "pa.Table | pa.RecordBatch"


def number_pattern(scale: int) -> str:
    """The texts that a decimal128(38, ``scale``) cell holds: canonical renderings only
    (no exponent, no leading or trailing zeros, no ``-0``), at most ``38 - scale`` integer
    digits and ``scale`` fractional digits. Rendering the cell gives the text back."""
    whole = f"[1-9][0-9]{{0,{37 - scale}}}"
    if scale == 0:
        return f"^(0|-?{whole})$"
    frac = f"\\.[0-9]{{0,{scale - 1}}}[1-9]"
    return f"^(0|-?{whole}({frac})?|-?0{frac})$"


def _column(data: _Columns, name: str) -> pa.Array:
    column = data.column(name)
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _cat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; null where any array part is null."""
    return pc.binary_join_element_wise(*parts, "")


def _fill(length: int, rows: list[int], values: list[Any]) -> pa.Array:
    """A string array of ``length`` nulls with ``values`` at ``rows``."""
    full: list[Any] = [None] * length
    for row, value in zip(rows, values, strict=True):
        full[row] = value
    return pa.array(full, pa.string())


def _value_bytes(strings: pa.Array) -> memoryview:
    """The UTF-8 bytes of all of a string array's values, back to back."""
    _, offsets, data = strings.buffers()
    width = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=width)[strings.offset:strings.offset + len(strings) + 1]
    if data is None:
        return memoryview(b"")
    return memoryview(data)[int(bounds[0]):int(bounds[-1])]


def _needs_escape(strings: pa.Array) -> pa.Array | None:
    """Per string: whether JSON needs an escape in it; None when no string does (one scan
    of the values' bytes, the common case)."""
    if not len(strings) or _ESCAPES.search(_value_bytes(strings)) is None:
        return None
    return pc.fill_null(pc.match_substring_regex(strings, _NEEDS_ESCAPE), False)


def json_strings(strings: pa.Array, before: str = "", after: str = "") -> pa.Array:
    """Each string as a JSON string literal (escaped exactly as orjson escapes it), between
    ``before`` and ``after``."""
    strings = strings.cast(pa.string())
    plain = _cat(before + '"', strings, '"' + after)
    needs = _needs_escape(strings)
    if needs is None:
        return plain
    rows = pc.indices_nonzero(needs)
    escaped = [before + orjson.dumps(s).decode("utf-8") + after
               for s in pc.take(strings, rows).to_pylist()]
    return pc.if_else(needs, _fill(len(strings), rows.to_pylist(), escaped), plain)


def base64_strings(values: pa.Array, before: str = "", after: str = "") -> pa.Array:
    """Each binary value as a JSON string of its standard base64 (DynamoDB's wire form)."""
    encode = binascii.b2a_base64
    return pa.array([None if v is None else
                     f'{before}"{encode(v, newline=False).decode("ascii")}"{after}'
                     for v in values.to_pylist()], pa.string())


def render_numbers(numbers: pa.Array, before: str = "", after: str = "") -> pa.Array:
    """Each decimal as a JSON string of its canonical text (``3.25``, ``20``, ``-0.5``)."""
    texts = pc.cast(numbers, pa.string())
    if numbers.type.scale > 0:  # every text has a point: strip the zeros after it
        trimmed = pc.utf8_rtrim(pc.utf8_rtrim(texts, characters="0"), characters=".")
        sci = pc.fill_null(pc.match_substring(texts, "E"), False)
        if pc.any(sci).as_py():  # Arrow writes |x| < 1E-6 with an exponent
            rows = pc.indices_nonzero(sci)
            plain = [_plain(v) for v in pc.take(numbers, rows).to_pylist()]
            trimmed = pc.if_else(sci, _fill(len(texts), rows.to_pylist(), plain), trimmed)
        texts = trimmed
    return _cat(before + '"', texts, '"' + after)


def _plain(value: Decimal) -> str:
    if not value:
        return "0"
    return format(value.normalize(WIDE), "f")


def _members(lists: pa.Array, render: Any) -> pa.Array:
    """``render`` applied to every member of a list array, joined with commas per list."""
    offsets = lists.offsets
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    members = render(lists.values.slice(start, end - start))
    rebased = pc.subtract(offsets, start)
    rebuilt = pa.ListArray.from_arrays(rebased, members, mask=lists.is_null())
    return pc.binary_join(rebuilt, ",")


def value_json(kind: str, cells: pa.Array, before: str = "") -> pa.Array:
    """``before`` and the DynamoDB JSON of each non-null cell of a column of ``kind`` (null
    stays null)."""
    if kind == "json":
        return _cat(before, cells.cast(pa.string()))
    if kind == "S":
        return json_strings(cells, before + '{"S":', "}")
    if kind == "N":
        return render_numbers(cells, before + '{"N":', "}")
    if kind == "B":
        return base64_strings(cells, before + '{"B":', "}")
    if kind == "BOOL":
        return pc.if_else(cells, before + '{"BOOL":true}', before + '{"BOOL":false}')
    render = {"SS": json_strings, "NS": render_numbers, "BS": base64_strings}[kind]
    return _cat(before + "{" + f'"{kind}"' + ":[", _members(cells, render), "]}")


def _fragments(data: _Columns, schema: TableSchema) -> list[pa.Array]:
    """The ``,"name":value`` fragments of every column (keys included), by attribute name.
    An N key is exact text in its column (kind ``key-N``)."""
    columns = [(name, f"key-{key_type}", column)
               for column, name, key_type in schema.key_columns()]
    present = set(data.schema.names)
    columns += [(c.name, c.kind, c.name) for c in schema.columns if c.name in present]
    out = []
    for name, kind, column in sorted(columns):
        before = "," + orjson.dumps(name).decode("utf-8") + ":"
        values = _column(data, column)
        if kind == "key-N":
            out.append(json_strings(values, before + '{"N":', "}"))
        else:
            out.append(value_json(kind.removeprefix("key-"), values, before))
    return out


def canonical_texts(data: _Columns, schema: TableSchema) -> pa.Array:
    """The canonical text of every row's item (a string array, one per row)."""
    pieces = _fragments(data, schema)
    if not pieces:
        raise CorruptDataError("a format 2 part has no key columns")
    joined = pc.binary_join_element_wise(*pieces, "}", "", null_handling="replace",
                                         null_replacement="")
    # The first fragment's comma becomes the opening brace; a row with no fragment at all
    # (no key: never written by ddblake) is the empty object.
    texts = pc.replace_substring(joined, ",", "{", max_replacements=1)
    if pc.any(pc.equal(texts, "}")).as_py():
        texts = pc.if_else(pc.equal(texts, "}"), "{}", texts)
    rest = _column(data, REST)
    if rest.null_count == len(rest):
        return texts
    valid = pc.is_valid(rest)
    rows = pc.indices_nonzero(valid)
    pairs = zip(pc.take(texts, rows).to_pylist(), pc.take(rest, rows).to_pylist(), strict=True)
    merged = [_merge(text, extra) for text, extra in pairs]
    return pc.if_else(valid, _fill(len(texts), rows.to_pylist(), merged), texts)


def _merge(text: str, rest: str) -> str:
    """A row's cells and its ``_rest`` as one canonical text."""
    cells = orjson.loads(text)
    extra = orjson.loads(rest)
    if not isinstance(extra, dict) or not extra or not cells.keys().isdisjoint(extra):
        raise CorruptDataError("a row's _rest is not a JSON object of attributes that no "
                               "other column holds", hint="run `ddblake verify --deep`")
    cells.update(extra)
    return orjson.dumps(cells, option=_SORT).decode("utf-8")


__all__ = ["base64_strings", "canonical_texts", "json_strings", "number_pattern",
           "render_numbers", "value_json"]
