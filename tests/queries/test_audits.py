"""Every audit checked against expectations computed in Python on the generated lake."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lake import layout
from lake.fileio import FileIO, load_file_io
from lake.writers import SnapshotWriter
from queries.audits import list_audits, run_audit
from queries.session import LakeSession
from schemas.codec import ITEM_SHA, encode_items
from schemas.dynamo_json import canonical_bytes
from schemas.errors import NotFoundError, UsageError
from schemas.manifest import Consistency, Source
from tests.queries.conftest import TABLE, LakeCase
from tests.queries.lakegen import KEYS, T0, iso, make_item, write_snapshot
from tests.queries.test_cli import run
from tests.queries.test_selections import expected_changed, expected_deleted

LATEST = T0 + timedelta(seconds=35)


def latest_items(case: LakeCase) -> list[dict[str, Any]]:
    return list(case.history.state_at(LATEST).values())


def size(item: dict[str, Any]) -> int:
    return len(canonical_bytes(copy.deepcopy(item)))


def audit(case_io: FileIO, name: str, **params: str) -> list[dict[str, Any]]:
    with LakeSession(case_io) as s:
        return run_audit(s, name, params).table.to_pylist()


def test_the_library_has_the_promised_audits() -> None:
    names = {a.name for a in list_audits()}
    assert names >= {"deleted-between", "changed-between", "attribute-profile",
                     "schema-drift", "item-sizes", "largest-items", "hot-partition-keys",
                     "ttl-expired", "integrity"}
    assert all(a.description for a in list_audits())


def test_attribute_profile(any_case: LakeCase) -> None:
    items = latest_items(any_case)
    types: dict[str, set[str]] = {}
    for it in items:
        for name, av in it.items():
            types.setdefault(name, set()).add(next(iter(av)))
    rows = audit(any_case.io, "attribute-profile")
    got = {r["attribute"]: (r["types"], r["present"], r["absent"]) for r in rows}
    want = {n: (",".join(sorted(t)), sum(n in it for it in items),
                len(items) - sum(n in it for it in items)) for n, t in types.items()}
    assert got == want
    assert got["kind"][0] == "N,S" and "Name" in got and "name" in got


def test_sizes_largest_and_hot_keys(local_case: LakeCase) -> None:
    items = latest_items(local_case)
    sizes = sorted(((size(it), it["id"]["S"]) for it in items), key=lambda t: (-t[0], t[1]))
    largest = audit(local_case.io, "largest-items", n="5")
    assert [(r["bytes"], r["_pk"]) for r in largest] == sizes[:5]
    hist = audit(local_case.io, "item-sizes")
    assert sum(r["items"] for r in hist) == len(items)
    for r in hist:
        inside = [s for s, _ in sizes if r["from_bytes"] <= s <= r["to_bytes"]]
        assert r["items"] == len(inside) and r["largest"] == max(inside)
    hot = audit(local_case.io, "hot-partition-keys", n="3")
    writes = Counter(e.item["id"]["S"] for e in local_case.history.events)
    assert hot[0] == {"_pk": "u001", "items": 1, "bytes": dict(sizes_by_key(items))["u001"],
                      "writes_logged": writes["u001"]}


def sizes_by_key(items: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(it["id"]["S"], size(it)) for it in items]


def test_ttl_expired(local_case: LakeCase) -> None:
    rows = audit(local_case.io, "ttl-expired", ttl_attribute="qty", now="1970-01-01T00:00:20Z")
    want = sorted(it["id"]["S"] for it in latest_items(local_case) if int(it["qty"]["N"]) < 20)
    assert sorted(r["_pk"] for r in rows) == want
    with pytest.raises(Exception, match="no TTL attribute"):
        audit(local_case.io, "ttl-expired")


def test_window_audits_match_the_selections(local_case: LakeCase) -> None:
    t1, t2 = T0 + timedelta(seconds=2), T0 + timedelta(seconds=100)
    h = local_case.history
    deleted = audit(local_case.io, "deleted-between", t1=iso(t1), t2=iso(t2))
    assert {(r["_pk"],): r["last_image"] for r in deleted} == expected_deleted(h, t1, t2)
    changed = audit(local_case.io, "changed-between", t1=iso(t1), t2=iso(t2))
    assert {(r["_pk"],): r["image_at_t1"] for r in changed} == expected_changed(h, t1, t2)


def test_schema_drift(tmp_path: Path) -> None:
    io = load_file_io(str(tmp_path / "lake"))
    old = [make_item(i) for i in range(6)]
    new = [make_item(i) for i in range(6)]
    for it in new:
        it["qty"] = {"S": "many"}
        it.pop("blob")
        it["added"] = {"BOOL": True}
    a = write_snapshot(io, TABLE, old, T0)
    b = write_snapshot(io, TABLE, new, T0 + timedelta(seconds=5))
    rows = audit(io, "schema-drift")
    got = {r["attribute"]: (r["types_a"], r["types_b"], r["drift"]) for r in rows}
    assert got == {"qty": ("N", "S", "types changed"), "blob": ("B", None, "removed"),
                   "added": (None, "BOOL", "added")}
    assert {(r["snapshot_a"], r["snapshot_b"]) for r in rows} == {(a.snapshot_id, b.snapshot_id)}
    assert audit(io, "schema-drift", a=b.snapshot_id, b=b.snapshot_id) == []


def test_integrity_finds_a_tampered_row(tmp_path: Path) -> None:
    io = load_file_io(str(tmp_path / "lake"))
    write_snapshot(io, TABLE, [make_item(i) for i in range(4)], T0)
    part = encode_items([make_item(i) for i in range(10, 13)], KEYS)
    shas = part.table.column(ITEM_SHA).to_pylist()
    shas[1] = "0" * 64
    part.table = part.table.set_column(part.table.schema.get_field_index(ITEM_SHA), ITEM_SHA,
                                       pa.array(shas, pa.string()))
    sid = layout.new_id(T0 + timedelta(seconds=9))
    writer = SnapshotWriter(io, TABLE, sid, KEYS)
    writer.write_part(layout.part_name(0, 0), part)
    writer.commit(source=Source(TABLE, "scan"),
                  consistency=Consistency("exact", iso(T0), iso(T0)), table_description={})
    rows = {r["source"]: (r["rows"], r["mismatched"]) for r in audit(io, "integrity")}
    assert rows[f"snapshot {sid}"] == (3, 1)
    assert sorted(v[1] for k, v in rows.items() if k != f"snapshot {sid}") == [0, 0]


def test_audit_cli(local_case: LakeCase, capsys: Any) -> None:
    code, out, _ = run(capsys, "audit", "--list", "--format", "json")
    assert code == 0 and {r["audit"] for r in json.loads(out)} >= {"integrity"}
    code, out, _ = run(capsys, "audit", "integrity", "--lake", local_case.io.uri,
                       "--format", "json")
    assert code == 0 and all(r["mismatched"] == 0 for r in json.loads(out))
    code, _, err = run(capsys, "audit", "nope", "--lake", local_case.io.uri)
    assert code == NotFoundError.exit_code and "known audits" in err
    code, _, err = run(capsys, "audit", "deleted-between", "--lake", local_case.io.uri)
    assert code == UsageError.exit_code and "needs --param t1" in err
    code, _, err = run(capsys, "audit", "largest-items", "--lake", local_case.io.uri,
                       "-p", "bogus=1")
    assert code == UsageError.exit_code and "no parameter bogus" in err
