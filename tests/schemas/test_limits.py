from __future__ import annotations

from typing import Any

import pytest

from schemas.errors import ItemValidationError
from schemas.keys import KeyAttribute, KeySchema
from schemas.limits import MAX_ITEM_BYTES, item_size, validate_item
from tests.schemas.corpus import EDGE_ITEMS, REJECTED, nest

KEYS = KeySchema(KeyAttribute("pk", "S"))


@pytest.mark.parametrize("item", EDGE_ITEMS, ids=lambda i: i["pk"]["S"][:20])
def test_edge_corpus_is_accepted(item: dict[str, Any]) -> None:
    assert validate_item(item, KEYS) > 0


@pytest.mark.parametrize(("item", "rule"), REJECTED, ids=[r for _, r in REJECTED])
def test_rejections_name_the_rule(item: dict[str, Any], rule: str) -> None:
    with pytest.raises(ItemValidationError) as caught:
        validate_item(item, KEYS)
    assert caught.value.rule == rule
    assert caught.value.rule in str(caught.value)


def test_error_names_the_attribute_path() -> None:
    item = {"pk": {"S": "a"}, "doc": {"M": {"list": {"L": [{"S": "ok"}, {"N": "1E+200"}]}}}}
    with pytest.raises(ItemValidationError) as caught:
        validate_item(item, KEYS)
    assert caught.value.path == "doc.list[1]"


def test_nesting_limit_is_31_wraps() -> None:
    validate_item({"pk": {"S": "a"}, "d": nest(31)}, KEYS)
    with pytest.raises(ItemValidationError):
        validate_item({"pk": {"S": "a"}, "d": nest(32)}, KEYS)


def test_item_size_follows_aws_rules() -> None:
    # name bytes + value bytes; numbers ~ 1 byte per 2 significant digits + 1; BOOL/NULL 1.
    assert item_size({"ab": {"S": "xyz"}}) == 5
    assert item_size({"n": {"N": "12345"}}) == 1 + 4
    assert item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 4
    assert item_size({"l": {"L": [{"S": "a"}, {"S": "b"}]}}) == 1 + 3 + 2 * (1 + 1)
    limit_item = {"pk": {"S": "a"}, "v": {"S": "x" * (MAX_ITEM_BYTES - 4)}}
    assert validate_item(limit_item, KEYS) == MAX_ITEM_BYTES


def test_key_limits() -> None:
    sorted_keys = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "B"))
    validate_item({"pk": {"S": "k" * 2048}, "sk": {"B": "AA=="}}, sorted_keys)
    with pytest.raises(ItemValidationError, match="1024"):
        validate_item({"pk": {"S": "k"}, "sk": {"S": "s" * 1025}}, KeySchema(
            KeyAttribute("pk", "S"), KeyAttribute("sk", "S")))
