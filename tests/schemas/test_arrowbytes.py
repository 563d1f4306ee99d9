"""The vectorised helpers of format 2's codec give what their per-value equivalents give."""

from __future__ import annotations

import base64
import random
from decimal import Decimal

import orjson
import pyarrow as pa
import pytest

from schemas.arrowbytes import base64_decode, base64_encode, integral_texts
from schemas.rowtext import number_texts, value_piece


def _binaries(rng: random.Random, fixed: bool) -> list[bytes | None]:
    width = rng.randint(0, 40)
    return [None if rng.random() < 0.25 else rng.randbytes(width if fixed else rng.randint(0, 40))
            for _ in range(rng.randint(1, 30))]


@pytest.mark.parametrize("fixed", [False, True])
def test_base64_both_ways_match_per_value_base64(fixed: bool) -> None:
    rng = random.Random(11)
    for _ in range(200):
        values = _binaries(rng, fixed)
        array = pa.array(values, pa.binary())
        skip = rng.randint(0, min(3, len(values)))
        array, values = array.slice(skip), values[skip:]  # an array with an offset
        encoded = base64_encode(array)
        encoded.validate(full=True)
        assert encoded.to_pylist() == [None if v is None else base64.b64encode(v).decode()
                                       for v in values]
        decoded = base64_decode(encoded)
        decoded.validate(full=True)
        assert decoded.to_pylist() == values


def test_base64_decode_refuses_partial_groups() -> None:
    with pytest.raises(ValueError, match="4-character"):
        base64_decode(pa.array(["QUJD", "QQ="]))


def test_integral_texts_only_for_integers_within_int64() -> None:
    rng = random.Random(3)
    for scale in (0, 2, 6, 18):
        limit = (2**63 - 1) // 10**scale
        values = [None if rng.random() < 0.1 else Decimal(rng.randint(-limit, limit))
                  for _ in range(50)]
        texts = integral_texts(pa.array(values, pa.decimal128(38, scale)))
        assert texts is not None
        assert texts.to_pylist() == [None if v is None else str(v) for v in values]
    for outside in ("1.5", "-0.000001", str(10**20), str(-(10**20))):
        assert integral_texts(pa.array([Decimal(outside)], pa.decimal128(38, 6))) is None
        assert number_texts(pa.array([Decimal(outside)], pa.decimal128(38, 6))).to_pylist() == [
            outside]


@pytest.mark.parametrize("kind", ["SS", "NS", "BS"])
def test_sets_render_with_empty_and_null_lists(kind: str) -> None:
    members = {"SS": ["a", 'q"uote', "ü"], "NS": [Decimal("1.5"), Decimal("-2"), Decimal(0)],
               "BS": [b"\x00", b"\xff\xfe", b""]}[kind]
    element = {"SS": pa.string(), "NS": pa.decimal128(38, 6), "BS": pa.binary()}[kind]
    rows = [members, [], None, members[:1]]
    head, cells, tail = value_piece(kind, pa.array(rows, pa.list_(element)))
    texts = [None if c is None else head + c + tail for c in cells.to_pylist()]

    def wire(m: object) -> str:
        if isinstance(m, bytes):
            return base64.b64encode(m).decode()
        return m if isinstance(m, str) else format(m.normalize(), "f")  # type: ignore[attr-defined]

    expected = [None if r is None else orjson.dumps({kind: [wire(m) for m in r]}).decode()
                for r in rows]
    assert texts == expected
