"""The per-table schema: stored form, evolution by adding columns only, names, the cap."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest

from schemas.errors import ManifestError
from schemas.keys import KeyAttribute, KeySchema
from schemas.table_schema import (
    AttributeStats,
    TableSchema,
    empty_schema,
    evolve,
    kind_for,
    parse_table_schema,
)

KEYS = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "N"))


def stats(**seen: tuple[int, set[str]]) -> AttributeStats:
    result = AttributeStats()
    for name, (count, tags) in seen.items():
        for tag in tags:
            result.add(name, tag, 0)
        result.rows[name] = count
    return result


def test_kinds_follow_the_type_tag_by_rule() -> None:
    assert [kind_for({t}) for t in ("S", "N", "B", "BOOL", "SS", "NS", "BS")] == [
        "S", "N", "B", "BOOL", "SS", "NS", "BS"]
    assert kind_for({"M"}) == kind_for({"L"}) == kind_for({"NULL"}) == "json"
    assert kind_for({"S", "N"}) == "json"


def test_evolution_only_adds_columns_with_fresh_field_ids() -> None:
    first = evolve(empty_schema("t", KEYS), stats(a=(5, {"S"}), tags=(3, {"SS"})))
    assert first is not None and first.schema_id == 1
    assert [(c.id, c.name, c.kind, c.element_id) for c in first.columns] == [
        (5, "a", "S", None), (6, "tags", "SS", 7)]
    second = evolve(first, stats(a=(9, {"N"}), b=(1, {"M"})))
    assert second is not None and second.schema_id == 2
    assert second.columns[:2] == first.columns  # a keeps its kind: an N goes to _rest
    assert [(c.id, c.name, c.kind) for c in second.columns[2:]] == [(8, "b", "json")]
    assert evolve(second, stats(a=(1, {"S"}))) is None
    names = second.arrow_schema().names
    assert names == ["_item_hash", "_rest", "_pk", "_sk", "a", "tags", "b"]
    assert first.arrow_schema().names == names[:-1]  # an older part's columns are a prefix
    assert second.arrow_schema().field("_sk").type == pa.string()  # N key as exact text


def test_unsafe_names_keys_and_case_collisions_get_no_column() -> None:
    seen = stats(**{"pk": (9, {"S"}), "_x": (9, {"S"}), "": (9, {"S"}), "x" * 256: (9, {"S"}),
                    "tab\there": (9, {"S"}), "Name": (2, {"S"}), "name": (7, {"S"}),
                    "ok.dot": (1, {"S"})})
    schema = evolve(empty_schema("t", KEYS), seen)
    assert schema is not None
    assert [c.name for c in schema.columns] == ["name", "ok.dot"]  # the more frequent wins
    later = evolve(schema, stats(NAME=(100, {"S"})))
    assert later is None


def test_the_cap_keeps_the_most_frequent_attributes() -> None:
    seen = stats(**{f"a{i}": (i, {"S"}) for i in range(10)})
    schema = evolve(empty_schema("t", KEYS), seen, cap=3)
    assert schema is not None
    assert [c.name for c in schema.columns] == ["a9", "a8", "a7"]
    assert evolve(schema, seen, cap=3) is None


def test_stored_schema_roundtrips_and_refuses_tampering() -> None:
    schema = evolve(empty_schema("t", KEYS, 9), stats(a=(1, {"NS"}), b=(1, {"B"})))
    assert schema is not None
    data = schema.to_bytes()
    assert parse_table_schema(data) == schema
    assert parse_table_schema(data).arrow_schema().field("a").type == pa.list_(
        pa.decimal128(38, 9))
    tampered = data.replace(b'"NS"', b'"SS"')
    with pytest.raises(ManifestError, match="self-checksum"):
        parse_table_schema(tampered)


@pytest.mark.parametrize("change", [
    {"columns": [{"id": 5, "name": "a", "kind": "S"}, {"id": 5, "name": "b", "kind": "S"}]},
    {"columns": [{"id": 4, "name": "a", "kind": "S"}]},
    {"columns": [{"id": 5, "name": "_a", "kind": "S"}]},
    {"columns": [{"id": 5, "name": "a", "kind": "S"}, {"id": 6, "name": "A", "kind": "S"}]},
    {"columns": [{"id": 5, "name": "a", "kind": "SS"}]},
    {"columns": [{"id": 5, "name": "a", "kind": "X"}]},
    {"number_scale": 38},
])
def test_invalid_stored_schemas_are_refused(change: dict[str, object]) -> None:
    from schemas.models import dump_checked

    document = {**empty_schema("t", KEYS).to_dict(), "last_column_id": 9, **change}
    with pytest.raises(ManifestError):
        parse_table_schema(dump_checked(document))


def test_stats_merge_and_travel_as_json() -> None:
    a, b = stats(x=(2, {"S"})), stats(x=(3, {"N"}), y=(1, {"M"}))
    merged = a.merge(b)
    assert merged.rows == {"x": 5, "y": 1} and merged.tags["x"] == {"S", "N"}
    assert AttributeStats.from_dict(orjson.loads(orjson.dumps(merged.to_dict()))) == merged
    assert a.rows == {"x": 2}  # merge does not change its inputs


def test_schema_zero_has_no_attribute_columns() -> None:
    schema = empty_schema("t", KeySchema(KeyAttribute("id", "B")))
    assert isinstance(schema, TableSchema) and schema.columns == ()
    assert schema.arrow_schema().names == ["_item_hash", "_rest", "_pk"]
    assert schema.first_attribute_id == 4
