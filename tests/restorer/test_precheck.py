"""The vectorised pre-check is sound: a row it marks clean always passes validate_item,
and every rule validate_item enforces still refuses items on the fast path, before any
write."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ddblake.sampledata import orders
from restorer.precheck import clean_rows, size_bound_holds
from restorer.rows import unit_rows
from restorer.select import add_functions, key_text_sql, ttl_text_sql
from restorer.writer import BatchWriter, Entry
from schemas import limits
from schemas.dynamo_json import canonical_bytes
from schemas.errors import ItemValidationError
from schemas.keys import KeyAttribute, KeySchema
from schemas.limits import item_size, validate_item

KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "N"))


def _batch(texts: list[bytes], keys: KeySchema = KEYS, ttl: str | None = None
           ) -> pa.RecordBatch:
    """The rows as the spool holds them: key columns (and _ttl) read by DuckDB with the
    restore's own SQL (on text that is not JSON, which a restore's query refuses
    before spooling, as NULL)."""
    con = duckdb.connect()
    add_functions(con)
    con.register("t", pa.table({"_item": pa.array([t.decode("utf-8", "replace")
                                                   for t in texts], pa.string())}))
    exprs = [key_text_sql(a) for a in keys.attributes] + ([ttl_text_sql(ttl)] if ttl else [])
    names = [f"_k{i}" for i in range(len(keys.attributes))] + (["_ttl"] if ttl else [])
    columns = ", ".join(f"CASE WHEN json_valid(_item) THEN {e} END AS {n}"
                        for e, n in zip(exprs, names, strict=True))
    sql = f"SELECT _item, {columns} FROM t"
    table = con.sql(sql).to_arrow_table()
    return table.combine_chunks().to_batches()[0]


def _clean(texts: list[bytes], keys: KeySchema = KEYS) -> list[bool]:
    batch = _batch(texts, keys)
    columns = [batch.column(f"_k{i}") for i in range(len(keys.attributes))]
    return [bool(x) for x in clean_rows(batch.column(0), columns, keys)]


def _item(**attrs: Any) -> dict[str, Any]:
    return {"pk": {"S": "a"}, "sk": {"N": "1"}, **attrs}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "x"}
    for _ in range(depth):
        value = {"M": {"m": value}}
    return value


# One item per rule of schemas.limits (and JSON that does not parse at all).
VIOLATIONS: list[tuple[str, bytes]] = [(rule, orjson.dumps(item)) for rule, item in [
    ("number-text", _item(n={"N": 5})),
    ("number-grammar", _item(n={"N": "12abc"})),
    ("number-precision", _item(n={"N": "1" * 39})),
    ("number-range", _item(n={"N": "1E+126"})),
    ("number-range", _item(n={"N": "1E-131"})),
    ("binary-base64", _item(b={"B": "!!=="})),
    ("binary-base64", _item(b={"BS": ["AA==", 7]})),
    ("attribute-name", {**_item(), "": {"S": "x"}}),
    ("attribute-name", {**_item(), "n" * 65_536: {"S": "x"}}),
    ("one-type", _item(v={"S": "a", "N": "1"})),
    ("one-type", _item(v={})),
    ("type", _item(v={"X": "a"})),
    ("string", _item(v={"S": 1})),
    ("bool", _item(v={"BOOL": "true"})),
    ("null", _item(v={"NULL": False})),
    ("nesting", _item(v=_nested(32))),
    ("list", _item(v={"L": {"a": 1}})),
    ("map", _item(v={"M": [1]})),
    ("set-empty", _item(v={"SS": []})),
    ("set-type", _item(v={"SS": ["a", 1]})),
    ("set-duplicates", _item(v={"SS": ["a", "b", "a"]})),
    ("set-duplicates", _item(v={"NS": ["1", "1.0"]})),
    ("set-duplicates", _item(v={"NS": ["2", "3", "2"]})),
    ("set-duplicates", _item(v={"BS": ["AA==", "AA=="]})),
    ("set-duplicates", _item(v={"SS": ["é", "\u00e9", "x"]})),
    ("item", ["pk", "a"]),
    ("item-size", _item(v={"S": "x" * 409_600})),
    ("key-missing", {"sk": {"N": "1"}}),
    ("key-type", _item(pk={"N": "1"})),
    ("key-empty", _item(pk={"S": ""})),
    ("key-size", _item(pk={"S": "é" * 1025})),
    ("key-size", _item(sk={"N": "1"}, pk={"S": "a" * 2049})),
]] + [
    ("set-duplicates", b'{"pk":{"S":"a"},"sk":{"N":"1"},"v":{"SS":["\\u0061","a"]}}'),
    ("key-empty", b'{"pk":{"S":"a"},"sk":{"N":"1"},"pk":{"S":""}}'),  # the last one counts
    ("json", b'{"pk":{"S":"a"},"sk":{"N":"1"}'),
    ("json", b'{"pk":{"S":"a"},"sk":{"N":"1"},"x":{"S":"\\ud800"}}'),
]


def _refused(text: bytes) -> str:
    try:
        validate_item(orjson.loads(text), KEYS)
    except ItemValidationError as e:
        return e.rule
    except orjson.JSONDecodeError:
        return "json"
    return ""


def test_every_rule_of_validate_item_has_a_violation_here() -> None:
    source = Path(limits.__file__).read_text()
    rules = set(re.findall(r'ItemValidationError\([^,]+, "([a-z0-9-]+)"', source))
    assert rules and rules <= {rule for rule, _ in VIOLATIONS}


@pytest.mark.parametrize(("rule", "text"), VIOLATIONS, ids=[r for r, _ in VIOLATIONS])
def test_each_violation_is_refused_and_never_clean(rule: str, text: bytes) -> None:
    assert _refused(text) == rule
    assert _clean([text]) == [False]


def test_violations_never_reach_the_sender_on_the_fast_path() -> None:
    good = [orjson.dumps(_item(pk={"S": f"k{i}"}, v={"SS": ["a", "b"]})) for i in range(30)]
    texts = good + [t for _, t in VIOLATIONS]
    random.Random(5).shuffle(texts)
    rows = list(unit_rows([_batch(texts)], KEYS))
    assert sum(isinstance(r, Entry) for r in rows) == len(good)  # the fast path was taken
    sent: list[bytes] = []

    class Sender:
        def batch_put(self, table: str, batch: list[bytes]) -> dict[str, Any]:
            sent.extend(batch)
            return {}

        def put_if_absent(self, table: str, text: bytes, partition_key: str) -> None:
            raise AssertionError

    out = BatchWriter(Sender(), "t", KEYS).write(rows)
    assert sorted(sent) == sorted(good) and out.written == len(good)
    assert sorted(t for t, _ in out.dead) == sorted(t for _, t in VIOLATIONS)


def test_sample_items_are_all_clean() -> None:
    keys = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
    texts = [canonical_bytes(i) for i in orders(300)]
    assert all(_clean(texts, keys))


def test_clean_but_expired_rows_are_left_to_the_writer() -> None:
    texts = [orjson.dumps(_item(pk={"S": f"k{i}"}, exp={"N": str(t)}))
             for i, t in enumerate((100, 300))]
    rows = list(unit_rows([_batch(texts, ttl="exp")], KEYS, ttl=("exp", 200.0)))
    assert rows[0] == texts[0] and isinstance(rows[1], Entry)


# Property: clean implies valid, over items built mostly from valid pieces, with invalid
# ones mixed in (the pre-check must never mark one of those clean).
def _mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any],
            odds: int) -> st.SearchStrategy[Any]:
    """``good`` ``odds`` times out of ``odds + 1``, else ``bad``."""
    return st.integers(0, odds).flatmap(lambda i: bad if i == 0 else good)


_good_numbers = st.sampled_from(["0", "1", "-2", "1.5", "-0.001", "12345", "99.25"])
_bad_numbers = st.sampled_from(["-0", "007", "1.50", "1e5", "1E+126", "1" * 38, "1" * 39, "x",
                                "0." + "0" * 17 + "1", "12345678901234567890", ""])
_numbers = _mostly(_good_numbers, _bad_numbers, 2)
_b64 = st.sampled_from(["", "AA==", "AAA=", "QUJD", "QUI=", "AB==", "AAAA", "!!", "QUI"])
_text_strings = st.text(alphabet=st.sampled_from(['a', 'b', 'é', '"', '\\', '\n', '\x00', ']', ',',
                                                 '😀']), max_size=4)
_strings = _mostly(_text_strings, st.just("\ud800"), 15)
_clean_names = st.text(alphabet="abxyz", min_size=1, max_size=3)
_names = _mostly(_clean_names, _strings, 3)
_sets = st.one_of(
    st.builds(lambda m: {"SS": m}, st.lists(_strings, max_size=3)),
    st.builds(lambda m: {"NS": m}, st.lists(_numbers, max_size=3)),
    st.builds(lambda m: {"BS": m}, st.lists(_b64, max_size=3)))
_good_scalars = st.one_of(
    st.builds(lambda s: {"S": s}, _strings), st.builds(lambda n: {"N": n}, _good_numbers),
    st.builds(lambda b: {"BOOL": b}, st.booleans()), st.just({"NULL": True}),
    st.builds(lambda m: {"SS": sorted(m)}, st.sets(_strings, min_size=1, max_size=3)))
_any_scalars = st.one_of(
    st.builds(lambda s: {"S": s}, _strings), st.builds(lambda n: {"N": n}, _numbers),
    st.builds(lambda b: {"B": b}, _b64), st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}), _sets, st.sampled_from([
        {"NULL": False}, {"S": 1}, {"BOOL": "true"}, {"N": 5}, {"X": "a"}, {}, {"S": "a", "N": "1"},
        {"L": {}}, {"M": []}, {"SS": ["a", 1]}]))
_scalars = _mostly(_good_scalars, _any_scalars, 5)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3)),
    st.builds(lambda v: {"M": v}, st.dictionaries(_names, inner, max_size=3))), max_leaves=6)
_good_pk = st.builds(lambda s: {"S": s}, _strings.filter(bool))
_good_sk = st.builds(lambda n: {"N": n}, _good_numbers)
_items = st.builds(lambda pk, sk, rest: {**rest, "pk": pk, "sk": sk},
                   _mostly(_good_pk, _scalars, 7),
                   _mostly(_good_sk, _scalars, 7),
                   st.dictionaries(_names, _values, max_size=3))


def _text(item: dict[str, Any], escaped: bool) -> bytes:
    """orjson's compact text, or (``escaped``) stdlib json's with non-ASCII as \\u escapes
    (orjson cannot write lone surrogates: those items always take stdlib json)."""
    try:
        return json.dumps(item, separators=(",", ":"), ensure_ascii=True).encode() \
            if escaped else orjson.dumps(item)
    except TypeError:
        return _text(item, True)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(_items, st.booleans()), min_size=1, max_size=8))
def test_clean_implies_valid(items: list[tuple[dict[str, Any], bool]]) -> None:
    texts = [_text(item, escaped) for item, escaped in items]
    for text, clean in zip(texts, _clean(texts), strict=True):
        if clean:
            assert _refused(text) == ""
        if not _refused(text):
            assert size_bound_holds(item_size(orjson.loads(text)), text)
