"""Audit parameters are bound values, never SQL; snapshot parameters are checked against
the table (``schema-drift`` on a table with one snapshot has nothing to compare)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lake.fileio import load_file_io
from queries.audits import run_audit
from queries.session import LakeSession
from schemas.errors import NotFoundError
from tests.helpers import run_cli
from tests.queries.conftest import TABLE, LakeCase
from tests.queries.lakegen import T0, make_item, write_snapshot


def audit(io: Any, name: str, **params: str) -> list[dict[str, Any]]:
    with LakeSession(io) as s:
        rows: list[dict[str, Any]] = run_audit(s, name, params).table.to_pylist()
        return rows


def test_schema_drift_needs_two_snapshots(tmp_path: Path, capsys: Any) -> None:
    io = load_file_io(str(tmp_path / "lake"))
    only = write_snapshot(io, TABLE, [make_item(i) for i in range(4)], T0)
    with pytest.raises(NotFoundError) as info:
        audit(io, "schema-drift")
    assert "has 1 snapshot(s), so there is no previous one" in info.value.message
    assert info.value.hint and "-p a=ID" in info.value.hint
    code, out, err = run_cli(capsys, "audit", "schema-drift", "--lake", io.uri)
    assert code == 5 and "added" not in out and "hint:" in err
    assert audit(io, "schema-drift", a=only.snapshot_id) == []  # itself: no drift
    with pytest.raises(NotFoundError, match="has no snapshot 20200101T000000Z-00000000"):
        audit(io, "schema-drift", a="20200101T000000Z-00000000")
    with pytest.raises(NotFoundError, match="has no snapshot x' OR true --"):
        audit(io, "schema-drift", a=only.snapshot_id, b="x' OR true --")
    second = [make_item(i) for i in range(4)]
    for it in second:
        it["extra"] = {"S": "new"}
    write_snapshot(io, TABLE, second, T0 + timedelta(seconds=5))
    assert [r["attribute"] for r in audit(io, "schema-drift")] == ["extra"]


def test_ttl_attribute_with_any_name(tmp_path: Path) -> None:
    io = load_file_io(str(tmp_path / "lake"))
    odd = 'exp"/~ü'
    items = [make_item(i) for i in range(4)]
    for i, it in enumerate(items):
        it[odd] = {"N": str(10 * i)}
    write_snapshot(io, TABLE, items, T0)
    rows = audit(io, "ttl-expired", ttl_attribute=odd, now="1970-01-01T00:00:15Z")
    assert sorted(r["_pk"] for r in rows) == ["u000", "u001"]


@pytest.mark.parametrize(("params", "words"), [
    (["-p", "n=1; DROP VIEW items"], "Conversion Error"),
    (["-p", "n=(SELECT 1)"], "Conversion Error"),
])
def test_hostile_params_stay_values(local_case: LakeCase, capsys: Any, params: list[str],
                                    words: str) -> None:
    code, _, err = run_cli(capsys, "audit", "largest-items", "--lake", local_case.io.uri,
                           *params)
    assert code == 2 and words in err and "hint:" in err and "Traceback" not in err
    code, out, _ = run_cli(capsys, "query", "--lake", local_case.io.uri,
                           "SELECT count(*) AS n FROM items", "--format", "csv")
    assert code == 0 and int(out.split()[1]) > 0  # the view is still there


def test_a_hostile_ttl_attribute_matches_nothing(local_case: LakeCase) -> None:
    for name in ("qty') OR true --", "qty\" OR 1=1", "*", "$..N"):
        assert audit(local_case.io, "ttl-expired", ttl_attribute=name,
                     now="2100-01-01T00:00:00Z") == []
