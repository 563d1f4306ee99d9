"""Publishing follows the manifests: incremental, idempotent, rebuilt when order or place
changed; pruned snapshots leave the Iceberg metadata; crashes leave a consistent older state."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import StaticTable

from lake import layout
from lake.commit import write_parquet
from lake.fileio import FileIO, LocalFileIO
from lake.iceberg import metadata, publish, publish_table, withdraw
from lake.iceberg.items import publish_items
from lake.iceberg.mapping import iceberg_schema, merge_schema
from lake.iceberg.metadata import ConcurrentPublishError
from lake.writers import SnapshotWriter
from schemas.errors import CorruptDataError, ManifestError, UsageError
from schemas.manifest import Consistency, Source
from tests.helpers import run_cli
from tests.iceberg.conftest import T0, S, Scenario, history, write_batches
from tests.iceberg.lakegen import KEYS, iso, snapshot_id_at, write_batch, write_snapshot


def summaries(io: FileIO, kind: str = "items") -> list[dict[str, Any]]:
    version = metadata.load(io, layout.iceberg_table_prefix("orders", kind))
    assert version is not None
    return [{**(s.summary.additional_properties if s.summary else {}),
             "operation": s.summary.operation.value if s.summary else None,
             "_ms": s.timestamp_ms, "_id": s.snapshot_id} for s in version.metadata.snapshots]


def current_rows(location: str) -> list[tuple[Any, ...]]:
    table = StaticTable.from_metadata(location)
    return sorted((r["_pk"], r["price"]) for r in table.scan().to_arrow().to_pylist())


def test_publish_is_idempotent(scenario: Scenario, scenario_io: FileIO) -> None:
    first = publish(scenario_io)
    again = publish(scenario_io)
    assert [p.action for p in first] == ["created", "created"]
    assert [p.action for p in again] == ["unchanged", "unchanged"]
    assert [p.metadata_location for p in again] == [p.metadata_location for p in first]


def test_summary_names_the_ddblake_snapshot(scenario: Scenario, scenario_io: FileIO) -> None:
    publish(scenario_io)
    got = summaries(scenario_io)
    assert [s["ddblake.snapshot-id"] for s in got] == [m.snapshot_id for m in scenario.snapshots]
    fuzzy = got[1]
    assert (fuzzy["ddblake.method"], fuzzy["ddblake.consistency"]) == ("scan", "fuzzy")
    assert fuzzy["ddblake.replay-from-us"] == str(T0 + 24 * S)
    assert fuzzy["ddblake.replay-inclusive"] == "true"
    assert fuzzy["ddblake.window-start"] == scenario.snapshots[1].consistency.start
    assert fuzzy["_ms"] == (T0 + 30 * S) // 1000
    assert got[2]["_ms"] == (T0 + 50 * S + 500) // 1000 + 1  # rounded up
    assert got[2]["operation"] == "overwrite" and got[2]["total-records"] == \
        got[2]["ddblake.items"]


def test_new_snapshots_and_batches_are_appended(scenario: Scenario,
                                                scenario_io: FileIO) -> None:
    before = publish(scenario_io)
    h = scenario.history
    h.write(T0 + 80 * S, "g", {"price": {"N": "1.23"}})
    m4 = write_snapshot(scenario_io, h, snapshot_id_at(T0 + 90 * S, "s4"),
                        start_us=T0 + 90 * S, end_us=T0 + 90 * S)
    write_batch(scenario_io, h, snapshot_id_at(T0 + 75 * S, "b4"), T0 + 70 * S + 1, T0 + 95 * S)
    items, changes = publish(scenario_io)
    assert (items.action, items.added, items.version) == ("updated", 1, 2)
    assert (changes.action, changes.added, changes.version) == ("updated", 1, 2)
    got = summaries(scenario_io)
    assert [s["_id"] for s in got[:3]] == [s["_id"] for s in summaries_of(before[0])]
    assert got[-1]["ddblake.snapshot-id"] == m4.snapshot_id
    assert ("g", Decimal("1.23")) in current_rows(str(items.metadata_location))
    change_rows = StaticTable.from_metadata(str(changes.metadata_location)).scan().to_arrow()
    assert change_rows.num_rows == len(h.events)
    version = metadata.load(scenario_io, layout.iceberg_table_prefix("orders", "items"))
    assert version is not None and version.metadata.metadata_log[-1].metadata_file == \
        before[0].metadata_location


def summaries_of(published: Any) -> list[dict[str, Any]]:
    table = StaticTable.from_metadata(published.metadata_location)
    return [{"_id": s.snapshot_id} for s in table.metadata.snapshots]


def test_a_rebuild_gives_the_same_snapshots(scenario: Scenario, scenario_io: FileIO) -> None:
    publish(scenario_io)
    before = summaries(scenario_io)
    items, changes = publish(scenario_io, rebuild=True)
    assert (items.action, items.version, changes.action) == ("rebuilt", 2, "rebuilt")
    after = summaries(scenario_io)
    strip = [{k: v for k, v in s.items()} for s in after]
    assert strip == before


def test_an_older_snapshot_committed_late_rewrites_the_order(
        scenario: Scenario, scenario_io: FileIO) -> None:
    publish(scenario_io)
    late = write_snapshot(scenario_io, scenario.history, snapshot_id_at(T0 + 70 * S, "late"),
                          start_us=T0 + 35 * S, end_us=T0 + 35 * S)
    items = publish_items(scenario_io, "orders")
    assert items.action == "rebuilt"
    ids = [s["ddblake.snapshot-id"] for s in summaries(scenario_io)]
    assert ids == [m.snapshot_id for m in scenario.snapshots[:2]] + \
        [late.snapshot_id, scenario.snapshots[2].snapshot_id]
    times = [s["_ms"] for s in summaries(scenario_io)]
    assert times == sorted(times)


def _delete_snapshot(io: FileIO, snapshot_id: str) -> None:
    io.delete(layout.snapshot_manifest("orders", snapshot_id))  # the manifest first, as prune
    for info in list(io.iter_objects(layout.snapshot_dir("orders", snapshot_id))):
        io.delete(info.key)


def test_pruned_snapshots_leave_the_iceberg_table(scenario: Scenario,
                                                  scenario_io: FileIO) -> None:
    publish(scenario_io)
    middle = scenario.snapshots[1].snapshot_id
    _delete_snapshot(scenario_io, middle)
    items = publish_items(scenario_io, "orders")
    assert (items.action, items.removed, items.snapshots) == ("updated", 1, 2)
    table = StaticTable.from_metadata(str(items.metadata_location))
    assert middle not in {s.summary[("ddblake.snapshot-id")] for s in table.metadata.snapshots
                          if s.summary}
    gap = table.snapshot_as_of_timestamp((T0 + 40 * S) // 1000)  # in the pruned one's time
    assert gap is not None and gap.summary is not None
    assert gap.summary["ddblake.snapshot-id"] == scenario.snapshots[0].snapshot_id
    assert len(table.scan(snapshot_id=gap.snapshot_id).to_arrow()) == \
        len(scenario.history.state_at(T0 + 10 * S))
    assert [e.snapshot_id for e in table.metadata.snapshot_log] == \
        [s.snapshot_id for s in table.metadata.snapshots]


def test_withdraw_removes_snapshots_before_their_parts_go(scenario: Scenario,
                                                          scenario_io: FileIO) -> None:
    publish(scenario_io)
    first = scenario.snapshots[0].snapshot_id
    result = withdraw(scenario_io, "orders", [first])
    assert result is not None and result.removed == 1
    assert first not in [s["ddblake.snapshot-id"] for s in summaries(scenario_io)]
    _delete_snapshot(scenario_io, first)
    assert publish_items(scenario_io, "orders").action == "unchanged"
    assert withdraw(LocalFileIO(scenario_io.uri), "other", [first]) is None


def test_a_crash_before_the_commit_leaves_the_previous_state(
        scenario: Scenario, scenario_io: FileIO, monkeypatch: pytest.MonkeyPatch) -> None:
    before, _ = publish(scenario_io)
    write_snapshot(scenario_io, scenario.history, snapshot_id_at(T0 + 90 * S, "s4"),
                   start_us=T0 + 90 * S, end_us=T0 + 90 * S)
    real = LocalFileIO.create

    def crash(self: LocalFileIO, key: str, data: bytes) -> None:
        if key.endswith(".metadata.json"):
            raise KeyboardInterrupt  # killed after the manifests, before the commit
        real(self, key, data)

    monkeypatch.setattr(LocalFileIO, "create", crash)
    with pytest.raises(KeyboardInterrupt):
        publish_items(scenario_io, "orders")
    monkeypatch.setattr(LocalFileIO, "create", real)
    folder = StaticTable.from_metadata(str(before.location))
    assert folder.metadata_location == before.metadata_location
    assert len(folder.metadata.snapshots) == 3
    assert publish_items(scenario_io, "orders").version == 2


def test_a_crash_before_the_hint_moves_is_found_by_probing(
        scenario: Scenario, scenario_io: FileIO, monkeypatch: pytest.MonkeyPatch) -> None:
    before, _ = publish(scenario_io)
    write_snapshot(scenario_io, scenario.history, snapshot_id_at(T0 + 90 * S, "s4"),
                   start_us=T0 + 90 * S, end_us=T0 + 90 * S)
    real = LocalFileIO.write

    def crash(self: LocalFileIO, key: str, data: bytes) -> None:
        if key.endswith(metadata.HINT):
            raise KeyboardInterrupt
        real(self, key, data)

    monkeypatch.setattr(LocalFileIO, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        publish_items(scenario_io, "orders")
    monkeypatch.setattr(LocalFileIO, "write", real)
    hinted = StaticTable.from_metadata(str(before.location))  # the hint still says 1
    assert len(hinted.metadata.snapshots) == 3
    assert publish_items(scenario_io, "orders").action == "unchanged"  # v2 found by probing
    assert metadata.current_number(scenario_io, layout.iceberg_table_prefix("orders",
                                                                            "items")) == 2


def test_two_publishers_cannot_both_commit_a_version(scenario: Scenario,
                                                     scenario_io: FileIO) -> None:
    publish(scenario_io)
    prefix = layout.iceberg_table_prefix("orders", "items")
    base = metadata.load(scenario_io, prefix)
    assert base is not None
    metadata.commit(scenario_io, prefix, base, base.metadata)
    with pytest.raises(ConcurrentPublishError, match="another publisher"):
        metadata.commit(scenario_io, prefix, base, base.metadata)


def test_a_copied_lake_is_rewritten_with_its_own_paths(scenario: Scenario, scenario_io: FileIO,
                                                       tmp_path: Path) -> None:
    publish(scenario_io)
    copy = tmp_path / "copy"
    shutil.copytree(scenario_io.uri, copy)
    items, changes = publish(LocalFileIO(copy))
    assert (items.action, changes.action) == ("rebuilt", "rebuilt")
    table = StaticTable.from_metadata(str(items.metadata_location))
    paths = table.inspect.files().column("file_path").to_pylist()
    assert paths and all(p.startswith(str(copy)) for p in paths)


def test_maintenance_jobs_may_not_delete_the_lake_parts(scenario: Scenario,
                                                        scenario_io: FileIO) -> None:
    items, _ = publish(scenario_io)
    table = StaticTable.from_metadata(str(items.metadata_location))
    assert table.properties["gc.enabled"] == "false"


def test_a_part_that_differs_from_its_manifest_is_refused(scenario: Scenario,
                                                          scenario_io: FileIO) -> None:
    part = scenario.snapshots[2].parts[0]
    key = layout.snapshot_part("orders", scenario.snapshots[2].snapshot_id, part.path)
    scenario_io.write(key, scenario_io.read(key) + b"x")
    with pytest.raises(CorruptDataError, match="its manifest says"):
        publish_items(scenario_io, "orders")


def test_a_part_without_its_schemas_columns_is_refused(scenario: Scenario,
                                                       scenario_io: FileIO) -> None:
    manifest = scenario.snapshots[0]
    part = manifest.parts[0]
    key = layout.snapshot_part("orders", manifest.snapshot_id, part.path)
    table = pa.table({"_item": pa.array(['{"id":{"S":"a"}}'], pa.string())})
    size, _ = write_parquet(scenario_io, key, table)  # a format 1 part under a format 2 one
    _fix_manifest(scenario_io, manifest, part.path, 1, size)
    with pytest.raises(CorruptDataError, match="does not have the columns") as e:
        publish_items(scenario_io, "orders")
    assert "unexpected: ['_item']" in e.value.message and "verify" in str(e.value.hint)


def test_a_column_of_another_type_than_its_schema_says_is_refused(
        scenario: Scenario, scenario_io: FileIO) -> None:
    manifest = scenario.snapshots[2]
    part = manifest.parts[0]
    key = layout.snapshot_part("orders", manifest.snapshot_id, part.path)
    schema = manifest.table_schema
    assert schema is not None
    arrow = schema.arrow_schema()
    forged = pa.schema([pa.field("price", pa.string()) if f.name == "price" else f
                        for f in arrow])  # the right names, price as text
    rows = pa.Table.from_pylist([{"_item_hash": 1, "_pk": "z", "price": "1"}], schema=forged)
    size, _ = write_parquet(scenario_io, key, rows)
    _fix_manifest(scenario_io, manifest, part.path, 1, size)
    with pytest.raises(CorruptDataError, match=r"other type: \['price'\]"):
        publish_items(scenario_io, "orders")


def test_a_field_id_given_to_another_column_is_refused(scenario: Scenario) -> None:
    schema = scenario.snapshots[2].table_schema
    assert schema is not None
    good = iceberg_schema(schema)
    price = schema.by_name["price"]
    renamed = replace(schema, columns=tuple(replace(c, name="cost") if c is price else c
                                            for c in schema.columns))
    with pytest.raises(CorruptDataError, match=f"field id {price.id} is cost"):
        merge_schema(good, iceberg_schema(renamed), what="snapshot x")
    assert merge_schema(good, iceberg_schema(schema), what="same") is good


def _format1_snapshot(io: FileIO, scenario: Scenario, at_us: int, tag: str) -> str:
    from schemas.codec import encode_items

    sid = snapshot_id_at(at_us, tag)
    writer = SnapshotWriter(io, "orders", sid, KEYS)
    items = list(scenario.history.state_at(at_us).values())
    writer.write_part(layout.part_name(0, 0), encode_items(
        [json.loads(json.dumps(i)) for i in items], KEYS))
    writer.commit(source=Source("orders", "export"),
                  consistency=Consistency("exact", iso(at_us), iso(at_us)),
                  table_description={})
    return sid


def test_format_1_snapshots_before_the_first_format_2_one_are_left_out_with_a_note(
        scenario: Scenario, scenario_io: FileIO, capsys: Any) -> None:
    old = _format1_snapshot(scenario_io, scenario, T0 + 5 * S, "f1")
    items = publish_items(scenario_io, "orders")
    assert (items.action, items.snapshots) == ("created", 3)
    assert len(items.notes) == 1 and "lake format 1" in items.notes[0] and old in items.notes[0]
    code, _, err = run_cli(capsys, "iceberg", "--lake", scenario_io.uri)
    assert code == 0 and old in err and "lake format 1" in err
    table = StaticTable.from_metadata(str(items.metadata_location))
    assert table.snapshot_as_of_timestamp((T0 + 6 * S) // 1000) is None  # nothing misread


def test_a_format_1_snapshot_newer_than_a_format_2_one_is_refused_with_the_fix(
        scenario: Scenario, scenario_io: FileIO) -> None:
    late = _format1_snapshot(scenario_io, scenario, T0 + 35 * S, "f1")
    with pytest.raises(UsageError, match=f"snapshot {late} of orders is in lake format 1") as e:
        publish_items(scenario_io, "orders")
    assert "ddblake export" in str(e.value.hint) and "prune" in str(e.value.hint)


def test_a_table_with_only_format_1_snapshots_publishes_its_change_table(
        scenario_io: FileIO) -> None:
    h = history()
    sid = _format1_snapshot(scenario_io, Scenario(h, [], [], scenario_io.uri), T0 + 10 * S,
                            "f1")
    write_batches(scenario_io, h)
    items, changes = publish_table(scenario_io, "orders")
    assert (items.action, items.metadata_location) == ("skipped", None)
    assert sid in items.notes[0]
    assert changes.action == "created"
    rows = StaticTable.from_metadata(str(changes.metadata_location)).scan().to_arrow()
    assert rows.num_rows == len(h.events)


def _fix_manifest(io: FileIO, manifest: Any, path: str, rows: int, size: int) -> None:
    from dataclasses import replace

    parts = tuple(replace(p, rows=rows, bytes=size) if p.path == path else p
                  for p in manifest.parts)
    fixed = replace(manifest, parts=parts,
                    totals=replace(manifest.totals, items=sum(p.rows for p in parts)))
    io.write(layout.snapshot_manifest("orders", manifest.snapshot_id), fixed.to_bytes())


def test_unreadable_metadata_names_the_rebuild(scenario: Scenario, scenario_io: FileIO) -> None:
    publish(scenario_io)
    scenario_io.write(layout.iceberg_table_prefix("orders", "items") + "metadata/v1.metadata.json",
                      b'{"format-version": 2, "location": 7}')
    with pytest.raises(ManifestError, match="does not parse") as e:
        publish_table(scenario_io, "orders")
    assert e.value.hint is not None and "--rebuild" in e.value.hint
    assert publish_table(scenario_io, "orders", rebuild=True)[0].action == "rebuilt"


def test_dry_run_writes_nothing(scenario: Scenario, scenario_io: FileIO) -> None:
    result = publish(scenario_io, dry_run=True)
    assert [p.action for p in result] == ["created", "created"]
    assert not list(scenario_io.iter_objects("orders/iceberg/"))


def test_metadata_pointing_outside_the_table_is_rewritten_not_followed(
        scenario: Scenario, scenario_io: FileIO, tmp_path: Path) -> None:
    publish(scenario_io)
    prefix = layout.iceberg_table_prefix("orders", "items")
    base = metadata.load(scenario_io, prefix)
    assert base is not None
    outside = str(tmp_path / "elsewhere.avro")
    forged = base.metadata.model_copy(update={"snapshots": [
        s.model_copy(update={"manifest_list": outside}) for s in base.metadata.snapshots]})
    metadata.commit(scenario_io, prefix, base, forged)
    scenario_io.write(prefix + "metadata/" + metadata.HINT, b"../../../etc")  # garbage hint
    items = publish_items(scenario_io, "orders")
    assert (items.action, items.version) == ("rebuilt", 3)
    table = StaticTable.from_metadata(str(items.metadata_location))
    assert all(s.manifest_list.startswith(items.location) for s in table.metadata.snapshots)


def test_prune_expires_the_iceberg_snapshots_before_deleting_their_parts(
        scenario: Scenario, scenario_io: FileIO, capsys: Any) -> None:
    publish(scenario_io)
    code, out, err = run_cli(capsys, "prune", "--lake", scenario_io.uri, "--keep-last", "1",
                             "--format", "json")
    assert code == 0, err
    deleted = [d["snapshot"] for d in json.loads(out) if d["action"] == "delete"]
    assert deleted and f"iceberg_snapshots_expired: {len(deleted)}" in out + err
    left = {s["ddblake.snapshot-id"] for s in summaries(scenario_io)}
    assert left == {m.snapshot_id for m in scenario.snapshots} - set(deleted)
    prefix = layout.iceberg_table_prefix("orders", "items")
    version = metadata.load(scenario_io, prefix)
    assert version is not None and version.number == 2  # one commit, before the deletes
    table = StaticTable.from_metadata(version.location)
    for snapshot in table.metadata.snapshots:  # every part named is still there
        assert table.scan(snapshot_id=snapshot.snapshot_id).to_arrow().num_rows >= 0
    assert publish_items(scenario_io, "orders").action == "unchanged"


def test_prune_of_a_lake_never_published_touches_no_iceberg_folder(
        scenario: Scenario, scenario_io: FileIO) -> None:
    from lake.retention import RetentionPolicy, apply_prune, plan_prune

    plan = plan_prune(scenario_io, RetentionPolicy(keep_last=1))
    result = apply_prune(scenario_io, plan)
    assert result.deleted and result.iceberg_expired == 0
    assert not list(scenario_io.iter_objects("orders/iceberg/"))


def test_withdrawing_the_current_snapshot_rebuilds_without_it(scenario: Scenario,
                                                             scenario_io: FileIO) -> None:
    publish(scenario_io)
    last = scenario.snapshots[-1].snapshot_id  # its manifest is still in the lake
    result = withdraw(scenario_io, "orders", [last])
    assert result is not None and (result.action, result.removed) == ("rebuilt", 1)
    assert result.current == scenario.snapshots[1].snapshot_id
    assert last not in [s["ddblake.snapshot-id"] for s in summaries(scenario_io)]
