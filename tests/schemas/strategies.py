"""Hypothesis strategies for DynamoDB items within the documented limits (wire form)."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

# Any unicode except lone surrogates (not valid UTF-8, so DynamoDB cannot hold them).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
names = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8)


@st.composite
def numbers(draw: st.DrawFn) -> str:
    """Number texts DynamoDB accepts, in varied (also un-normalized) spellings."""
    digits = draw(st.integers(min_value=1, max_value=38))
    mantissa = draw(st.integers(min_value=0, max_value=10**digits - 1))
    exponent = draw(st.integers(min_value=-130 + digits, max_value=125 - digits))
    value = Decimal(mantissa).scaleb(exponent) if mantissa else Decimal(0)
    sign = draw(st.sampled_from(["", "-"])) if mantissa else ""
    style = draw(st.sampled_from(["plain", "sci", "raw-int"]))
    if style == "raw-int" and abs(exponent) < 30:
        return f"{sign}{value:f}"
    if style == "sci":
        return f"{sign}{value:E}"
    return f"{sign}{value.normalize():f}" if mantissa else "0"


blobs = st.binary(max_size=16).map(lambda b: base64.b64encode(b).decode("ascii"))


def scalars() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        text.map(lambda s: {"S": s}),
        numbers().map(lambda n: {"N": n}),
        blobs.map(lambda b: {"B": b}),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.just({"NULL": True}),
        st.lists(text, min_size=1, max_size=5, unique=True).map(lambda v: {"SS": v}),
        st.lists(numbers(), min_size=1, max_size=5,
                 unique_by=lambda n: Decimal(n)).map(lambda v: {"NS": v}),
        st.lists(st.binary(max_size=6), min_size=1, max_size=5, unique=True).map(
            lambda v: {"BS": [base64.b64encode(b).decode("ascii") for b in v]}),
    )


values = st.recursive(
    scalars(),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda v: {"L": v}),
        st.dictionaries(names, children, max_size=4).map(lambda v: {"M": v}),
    ),
    max_leaves=8,
)

keys = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20).map(
        lambda s: {"S": s}),
)


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    item = draw(st.dictionaries(names.filter(lambda n: n != "pk"), values, max_size=6))
    item["pk"] = draw(keys)
    return item
