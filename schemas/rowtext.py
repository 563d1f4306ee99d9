"""Format 2 rows -> the canonical text of their items (decision 001), byte for byte.

This is the one decoder of format 2: the writer proves every row with it before a part is
written (:mod:`schemas.rowcodec`), and restore, verify and ``decode_items`` read with it.

Each column becomes an array of JSON fragments (``,"name":{"S":"..."}``), built with Arrow
kernels; the fragments of a row are concatenated in attribute-name order (the order of
orjson's ``OPT_SORT_KEYS``, code points). Strings that need JSON escapes, binary values
(base64), numbers Arrow prints in scientific notation, and the attributes of ``_rest`` are
done in Python with orjson, so every text is exactly what
``schemas.dynamo_json.canonical_bytes`` writes for the item.

``_rest`` is merged per *gap*: each of its attributes is serialized alone by orjson
(``{"name":value}`` with sorted keys, less its braces) and put, as one more fragment array,
between the two column names it sorts between (code point order, as orjson sorts keys).
This gives the same text as the former merge (the row's cells parsed, ``_rest`` added and
the whole serialized again by orjson) for every row a writer proved: orjson's output for an
object is its members' outputs, in key order, joined by commas, and each cell fragment of a
proven row is already the member's canonical output. It refuses the same rows (``_rest`` not
a non-empty object, or naming an attribute that a cell of the row holds).
"""

from __future__ import annotations

from bisect import bisect_left
from decimal import Decimal
from typing import Any, TypeAlias

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from schemas.arrowbytes import base64_encode, has_byte, integral_texts, offsets, value_bytes
from schemas.dynamo_json import WIDE
from schemas.errors import CorruptDataError
from schemas.table_schema import REST, TableSchema

_SORT = orjson.OPT_SORT_KEYS
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'
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


def _needs_escape(strings: pa.Array) -> pa.Array | None:
    """Per string: whether JSON needs an escape in it; None when no string does (a scan of
    the values' bytes with numpy, the common case: in UTF-8 a byte below 0x80 is always the
    ASCII character itself, so no byte is a control character, ``"`` or ``\\`` exactly when
    no character is)."""
    if not len(strings):
        return None
    data = value_bytes(strings)
    if not len(data) or (data.min() >= 0x20 and not (data == 0x22).any()
                         and not (data == 0x5C).any()):
        return None
    return pc.fill_null(pc.match_substring_regex(strings, _NEEDS_ESCAPE), False)


def string_texts(strings: pa.Array) -> pa.Array:
    """Each string's JSON text without its quotes (escaped exactly as orjson escapes it)."""
    strings = strings.cast(pa.string())
    needs = _needs_escape(strings)
    if needs is None:
        return strings
    rows = pc.indices_nonzero(needs)
    escaped = [orjson.dumps(s).decode("utf-8")[1:-1] for s in pc.take(strings, rows).to_pylist()]
    return pc.if_else(needs, _fill(len(strings), rows.to_pylist(), escaped), strings)


def number_texts(numbers: pa.Array) -> pa.Array:
    """Each decimal's canonical text (``3.25``, ``20``, ``-0.5``)."""
    integral = integral_texts(numbers)
    if integral is not None:
        return integral
    texts = pc.cast(numbers, pa.string())
    if numbers.type.scale <= 0:
        return texts
    # Every text has a point: strip the zeros after it.
    trimmed = pc.utf8_rtrim(pc.utf8_rtrim(texts, characters="0"), characters=".")
    if has_byte(texts, ord("E")):  # Arrow writes |x| < 1E-6 with an exponent
        sci = pc.fill_null(pc.match_substring(texts, "E"), False)
        rows = pc.indices_nonzero(sci)
        plain = [_plain(v) for v in pc.take(numbers, rows).to_pylist()]
        trimmed = pc.if_else(sci, _fill(len(texts), rows.to_pylist(), plain), trimmed)
    return trimmed


def _plain(value: Decimal) -> str:
    if not value:
        return "0"
    return format(value.normalize(WIDE), "f")


def _members(lists: pa.Array, render: Any) -> pa.Array:
    """``render`` applied to every member of a list array, each between quotes, joined with
    commas per list, without the first and last quote (the piece's literals hold them; so
    an empty list, never in DynamoDB, takes the slower way)."""
    offsets = lists.offsets
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    members = render(lists.values.slice(start, end - start))
    rebuilt = pa.ListArray.from_arrays(pc.subtract(offsets, start), members,
                                       mask=lists.is_null())
    return pc.binary_join(rebuilt, '","')


def _has_empty(lists: pa.Array) -> bool:
    return bool(pc.any(pc.equal(pc.list_value_length(lists), 0)).as_py())


Piece: TypeAlias = tuple[str, pa.Array, str]


def value_piece(kind: str, cells: pa.Array) -> Piece:
    """The DynamoDB JSON of each cell of a column of ``kind`` as (text before, per-cell
    text, text after); the per-cell text is null where the cell is."""
    if kind == "json":
        return "", cells.cast(pa.string()), ""
    if kind == "S":
        return '{"S":"', string_texts(cells), '"}'
    if kind == "N":
        return '{"N":"', number_texts(cells), '"}'
    if kind == "B":
        return '{"B":"', base64_encode(cells), '"}'
    if kind == "BOOL":
        return '{"BOOL":', pc.if_else(cells, "true", "false"), "}"
    render = {"SS": string_texts, "NS": number_texts, "BS": base64_encode}[kind]
    joined = _members(cells, render)
    if _has_empty(cells):
        joined = pc.if_else(pc.equal(pc.list_value_length(cells), 0), "", _cat('"', joined, '"'))
        return '{"' + kind + '":[', joined, "]}"
    return '{"' + kind + '":["', joined, '"]}'


def _fragments(data: _Columns, schema: TableSchema) -> list[tuple[str, Piece]]:
    """(attribute name, piece of ``,"name":value``) of every column (keys included), by
    attribute name. An N key is exact text in its column (kind ``key-N``)."""
    columns = [(name, f"key-{key_type}", column)
               for column, name, key_type in schema.key_columns()]
    present = set(data.schema.names)
    columns += [(c.name, c.kind, c.name) for c in schema.columns if c.name in present]
    out = []
    for name, kind, column in sorted(columns):
        before = "," + orjson.dumps(name).decode("utf-8") + ":"
        values = _column(data, column)
        head, texts, tail = (value_piece("S", values) if kind == "key-N" else
                             value_piece(kind.removeprefix("key-"), values))
        if kind == "key-N":
            head = '{"N":"'
        out.append((name, (before + head, texts, tail)))
    return out


def canonical_texts(data: _Columns, schema: TableSchema) -> pa.Array:
    """The canonical text of every row's item (a string array, one per row)."""
    return joined_texts(data, schema, "")


def joined_texts(data: _Columns, schema: TableSchema, end: str) -> pa.Array:
    """Each row's canonical text followed by ``end`` (the writer's proof compares the texts
    with a newline after each, as its buffer holds them)."""
    named = _fragments(data, schema)
    if not named:
        raise CorruptDataError("a format 2 part has no key columns")
    pieces = _with_rest(data, schema, named)
    joined = pc.binary_join_element_wise(*_merged(pieces), "}" + end, "",
                                         null_handling="replace", null_replacement="")
    # The first fragment's comma becomes the opening brace; a row with no fragment at all
    # (no key: never written by ddblake) is the empty object.
    opened = _open_brace(joined, 1 + len(end))
    if opened is not None:
        return opened
    texts = pc.replace_substring(joined, ",", "{", max_replacements=1)
    bare = pc.equal(texts, "}" + end)
    if pc.any(bare).as_py():
        texts = pc.if_else(bare, "{}" + end, texts)
    return texts


def _merged(pieces: list[Piece | pa.Array]) -> list[pa.Array | str]:
    """Arguments of one element-wise join: a piece whose cells are never null goes in as
    its three parts (no array of its own is built), literal texts next to each other as
    one; a piece with nulls (and a ``_rest`` gap array) as one array, null where null."""
    out: list[pa.Array | str] = []
    for piece in pieces:
        if isinstance(piece, tuple):
            head, texts, tail = piece
            parts: list[pa.Array | str] = ([head, texts, tail] if texts.null_count == 0
                                           else [_cat(head, texts, tail)])
        else:
            parts = [piece]
        for part in parts:
            if isinstance(part, str) and out and isinstance(out[-1], str):
                out[-1] += part
            elif not isinstance(part, str) or part:
                out.append(part)
    return out


def _open_brace(joined: pa.Array, shortest: int) -> pa.Array | None:
    """The joined texts with each one's first byte (a comma) made ``{``, in one copy of
    the bytes; None when a row has no fragment (or the texts are not a plain string array)."""
    if joined.type != pa.string() or not len(joined):
        return None
    bounds = offsets(joined)
    starts = bounds[:-1] - bounds[0]
    if (np.diff(bounds) <= shortest).any():
        return None
    text = value_bytes(joined).copy()
    if not (text[starts] == ord(",")).all():
        return None
    text[starts] = ord("{")
    return pa.StringArray.from_buffers(len(joined), pa.py_buffer((bounds - bounds[0]).astype(
        np.int32)), pa.py_buffer(text))


def _with_rest(data: _Columns, schema: TableSchema,
               named: list[tuple[str, Piece]]) -> list[Piece | pa.Array]:
    """The columns' fragments with the attributes of ``_rest`` put between them in name
    order: per *gap* between two consecutive column names, one array holding each row's
    ``_rest`` attributes that sort into that gap (their ``,"name":value`` fragments, each
    serialized by orjson as the canonical text has it), null where the row has none."""
    rest = _column(data, REST)
    names = [name for name, _ in named]
    if rest.null_count == len(rest):
        return [fragments for _, fragments in named]
    rows = pc.indices_nonzero(pc.is_valid(rest)).to_pylist()
    gaps: dict[int, tuple[list[int], list[str]]] = {}
    taken: dict[str, list[int]] = {}  # column name -> rows whose _rest also has it
    for row, text in zip(rows, pc.take(rest, pa.array(rows, pa.int64())).to_pylist(),
                         strict=True):
        for gap, fragment in _rest_fragments(text, names, row, taken):
            held = gaps.setdefault(gap, ([], []))
            if held[0] and held[0][-1] == row:
                held[1][-1] += fragment
            else:
                held[0].append(row)
                held[1].append(fragment)
    _check_disjoint(data, schema, taken)
    pieces: list[Piece | pa.Array] = []
    for gap in range(len(named) + 1):
        if gap in gaps:
            pieces.append(_fill(len(rest), *gaps[gap]))
        if gap < len(named):
            pieces.append(named[gap][1])
    return pieces


def _rest_fragments(text: str, names: list[str], row: int, taken: dict[str, list[int]]
                    ) -> list[tuple[int, str]]:
    """(gap, fragment) of each attribute of one row's ``_rest``, in name order."""
    extra = orjson.loads(text)
    if not isinstance(extra, dict) or not extra:
        raise CorruptDataError("a row's _rest is not a JSON object of attributes",
                               hint="run `ddblake verify --deep`")
    out = []
    for name in sorted(extra):
        gap = bisect_left(names, name)
        if gap < len(names) and names[gap] == name:
            taken.setdefault(name, []).append(row)
        pair = orjson.dumps({name: extra[name]}, option=_SORT).decode("utf-8")
        out.append((gap, "," + pair[1:-1]))
    return out


def _check_disjoint(data: _Columns, schema: TableSchema, taken: dict[str, list[int]]) -> None:
    """Refuse rows whose ``_rest`` holds an attribute that a cell of the row holds too."""
    columns = {name: column for column, name, _ in schema.key_columns()}
    for name, rows in taken.items():
        cells = pc.take(_column(data, columns.get(name, name)), pa.array(rows, pa.int64()))
        if cells.null_count != len(cells):
            raise CorruptDataError("a row's _rest holds an attribute that another column "
                                   "holds too", hint="run `ddblake verify --deep`")


__all__ = ["canonical_texts", "joined_texts", "number_pattern", "number_texts", "string_texts",
           "value_piece"]
