"""A sound, vectorised pre-check of ``_item`` texts against DynamoDB's limits.

:func:`schemas.limits.validate_item` walks every attribute in Python (~60 us an item). This
module proves most items valid without parsing them: over a whole Arrow array of texts, in
C++ (RE2 through ``pyarrow.compute``), it marks a row **clean** only when it can prove that
``validate_item(orjson.loads(text), keys)`` would pass. Every other row goes through the
full Python validator, so a violation is always refused before any write; the pre-check
only decides how much work proving validity costs.

A row is clean when all of these hold:

1. The text is valid UTF-8 and matches :data:`ITEM_RE`, a regular grammar of compact
   DynamoDB JSON with containers (``M``, ``L``) nested at most one level below the
   item (deeper items are never clean). The grammar only admits:

   - attribute names: non-empty JSON strings without escapes (so each name has one
     spelling in the text and a name can never contain ``"``);
   - ``S``: any JSON string (escapes allowed, lone surrogates not);
   - ``N``: ``-?D{1,19}(.D{1,18})?``: at most 37 digits, magnitude below 1E19 and, when
     not zero, at least 1E-18: inside DynamoDB's 38 digits and 1E-130 .. 9.99E+125;
   - ``B``: canonical base64 (padding bits zero): what ``b64decode(validate=True)`` accepts;
   - ``BOOL`` true/false, ``NULL`` true, ``L``/``M`` of such values, empty ``L``/``M``;
   - sets with at least one member, in canonical spellings: ``SS`` members without
     escapes, ``NS`` members without leading/trailing zeros or ``-0``, ``BS`` members in
     canonical base64. So two members are equal as DynamoDB values exactly when their
     texts are equal, and 2. can compare texts.

   Every value has exactly one type descriptor of the right JSON type, so the text
   parses (orjson) and passes every per-value rule of ``validate_item``.
2. No set has two equal members (grouped and counted in Arrow).
3. The text is at most :data:`MAX_CLEAN_BYTES` (64 KB - 1) bytes of UTF-8. An item's
   size by DynamoDB's rules is never larger than its wire JSON text's length (see
   :func:`size_bound_holds` and the proof there), so the item is below 400 KB and
   no attribute name (part of the text) exceeds 64 KB.
4. Each key attribute: its value (extracted by DuckDB from ``$."name".TYPE``, so it has
   the table's key type) is not null, and the text does not hold ``"name":{`` twice.
   Names have no escapes, so the top-level key DuckDB found is spelled ``"name":{`` and
   every attribute of that name, at any depth, shows as that substring (a string value
   holds ``"`` only escaped): the key is unique and it is the one DuckDB read (a JSON
   parser keeping the last duplicate could otherwise see another). ``S``/``B`` values
   are not empty and their UTF-8 (``S``) or base64 (``B``, longer than its bytes) length
   is within the 2048/1024-byte key limits. ``N`` keys are at most 21 bytes.
"""

from __future__ import annotations

import re

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from schemas.keys import KeySchema
from schemas.limits import MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES

MAX_CLEAN_BYTES = 65_535

_STR = (r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]'
        r'|\\u(?:[0-9a-cA-CefEF][0-9a-fA-F]{3}|[dD][0-7][0-9a-fA-F]{2}))*"')
_NAME = r'"[^"\\\x00-\x1f]+"'
_NUM = r'"-?[0-9]{1,19}(?:\.[0-9]{1,18})?"'
_NUM_CANONICAL = r'"(?:0|-?[1-9][0-9]{0,18}(?:\.[0-9]{0,17}[1-9])?|-?0\.[0-9]{0,17}[1-9])"'
_B64 = r'"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?"'
_SET_MEMBER = r'"[^"\\\x00-\x1f]*"'


def _list(x: str) -> str:
    return f"{x}(?:,{x})*"


_SCALAR = "|".join([
    rf'\{{"S":{_STR}\}}', rf'\{{"N":{_NUM}\}}', rf'\{{"B":{_B64}\}}',
    r'\{"BOOL":(?:true|false)\}', r'\{"NULL":true\}',
    rf'\{{"SS":\[{_list(_SET_MEMBER)}\]\}}', rf'\{{"NS":\[{_list(_NUM_CANONICAL)}\]\}}',
    rf'\{{"BS":\[{_list(_B64)}\]\}}', r'\{"L":\[\]\}', r'\{"M":\{\}\}'])
_VALUE0 = f"(?:{_SCALAR})"
# One level of containers: deeper grammars make RE2 fall back from its DFA (16x slower).
_VALUE1 = (rf'(?:{_SCALAR}|\{{"L":\[{_list(_VALUE0)}\]\}}'
           rf'|\{{"M":\{{{_list(_NAME + ":" + _VALUE0)}\}}\}})')
ITEM_RE = rf'^\{{(?:{_list(_NAME + ":" + _VALUE1)})?\}}$'
# In a text that matches ITEM_RE, 'S":["' occurs only where a set starts: names and set
# members hold no '"', S values hold it escaped, and only SS/NS/BS are keys ending in S
# whose value is a list.
_SET_START = 'S":["'
_SET_BODY = r'^(?P<body>[^"]*(?:","[^"]*)*)"\]'


def clean_rows(texts: pa.Array, key_values: list[pa.Array], keys: KeySchema,
               unique: tuple[str, ...] = ()) -> np.ndarray:
    """A boolean per row: True when the row provably passes ``validate_item`` (see the
    module docstring); False means "check it in Python", not "invalid". The attributes
    named in ``unique`` (besides the keys) must also occur at most once (the TTL
    attribute: read by DuckDB, so its value is the one a JSON parser reads)."""
    n = len(texts)
    try:
        texts.validate(full=True)
    except pa.ArrowInvalid:
        return np.zeros(n, dtype=bool)
    ok = pc.and_(pc.less_equal(pc.binary_length(texts), MAX_CLEAN_BYTES),
                 pc.match_substring_regex(texts, ITEM_RE))
    twice = "|".join(f"{n}.*{n}" for n in
                     (re.escape(orjson.dumps(name).decode() + ":{")
                      for name in (*keys.names, *unique)))
    ok = pc.and_(ok, pc.invert(pc.match_substring_regex(texts, f"(?s){twice}")))
    for attr, value in zip(keys.attributes, key_values, strict=True):
        if attr.type != "N":
            limit = MAX_PARTITION_KEY_BYTES if attr == keys.partition else MAX_SORT_KEY_BYTES
            length = pc.binary_length(value)
            ok = pc.and_(ok, pc.and_(pc.greater(length, 0), pc.less_equal(length, limit)))
        else:
            ok = pc.and_(ok, pc.is_valid(value))
    mask: np.ndarray = ok.fill_null(False).to_numpy(zero_copy_only=False)
    clean: np.ndarray = mask & ~_duplicate_set_members(texts)
    return clean


def _duplicate_set_members(texts: pa.Array) -> np.ndarray:
    """Rows in which some set has two members with the same text (meaningful for rows
    that match :data:`ITEM_RE`, where set members hold no ``"``)."""
    dup = np.zeros(len(texts), dtype=bool)
    pieces = pc.list_slice(pc.split_pattern(texts, _SET_START), 1)
    if pc.sum(pc.list_value_length(pieces)).as_py() in (None, 0):
        return dup
    rows = pc.list_parent_indices(pieces)
    bodies = pc.struct_field(pc.extract_regex(pc.list_flatten(pieces), _SET_BODY), [0])
    members = pc.split_pattern(bodies, '","')
    table = pa.table({"set": pc.list_parent_indices(members),
                      "member": pc.list_flatten(members)})
    counts = table.group_by(["set", "member"]).aggregate([([], "count_all")])
    repeated = pc.filter(counts["set"], pc.greater(counts["count_all"], 1))
    if len(repeated):
        dup[pc.take(rows, repeated).to_numpy(zero_copy_only=False)] = True
    return dup


def size_bound_holds(size: int, text: bytes) -> bool:
    """Condition 3's lemma, checked by the tests on many items: ``size <= len(text)``.

    Proof by structure of the compact wire JSON (orjson, or any JSON: whitespace and
    escapes only lengthen it). A JSON string spells each character in at least its UTF-8
    length (raw, or a 2/6/12-byte escape for 1-4 UTF-8 bytes), so a name or ``S`` value
    of ``k`` UTF-8 bytes takes at least ``k + 2`` bytes with its quotes. An ``N`` of ``d``
    significant digits costs ``(d + 1) // 2 + 1 <= d + 2`` and its quoted text has at least
    ``d + 2`` bytes. ``B`` of ``k`` bytes is ``4 * ceil(k / 3) >= k`` base64 characters.
    ``BOOL``/``NULL`` cost 1 (text 4-5). A set costs the sum of its members' sizes. An
    attribute value ``{"T":v}`` adds 6+ bytes of text around ``v`` and nothing to the size.
    ``L`` costs ``3 + sum(1 + size(v))`` while its text ``{"L":[v,...]}`` has
    ``8 + sum(len(v)) + (n - 1)`` bytes; ``M`` costs ``3 + sum(1 + name + size(v))``, its
    text ``{"M":{"name":v,...}}`` has ``8 + sum(name + 3 + len(v)) + (n - 1)``. The item
    costs ``sum(name + size(v))``; its text ``{"name":v,...}`` has
    ``2 + sum(name + 3 + len(v)) + (n - 1)``. By induction ``size(v) <= len(v)`` for every
    value, hence for the item.
    """
    return size <= len(text)
