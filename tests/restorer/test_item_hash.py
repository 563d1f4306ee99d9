"""Every item a restore writes is checked against the hash the backup recorded for it
(restorer/itemcheck.py): a reader that renders an item differently from the backup (here:
DuckDB's rebuild of format 2 items, or its reading of change images, broken in-process so
that one number comes out as ``19.990`` instead of ``19.99``) makes the restore refuse with
exit 4, naming the item, and that item is never written."""

from __future__ import annotations

import copy
import importlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from exporter.describe import describe_table
from lake import layout
from lake.fileio import LocalFileIO
from lake.writers import SnapshotWriter, write_change_batch
from queries import format2sql, selections
from restorer import RestoreConfig, itemcheck
from restorer.select import Query, resolve_source
from restorer.spool import Spool, read_unit_batches
from restorer.units import UnitContext, write_unit
from schemas.changes import ChangeRecord, infer_operation
from schemas.codec import encode_items
from schemas.dynamo_json import canonical_bytes, from_client, value_key
from schemas.keys import KeySchema
from schemas.manifest import Consistency, Source
from schemas.rowcodec import hash_of
from tests.helpers import create_table, run_cli, scan_all
from tests.schemas.corpus import EDGE_ITEMS

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
restore_module = importlib.import_module("restorer.restore")  # `restorer.restore` is the function
RID = "20261207T120000Z-0a1b2c3d"  # a restore id as ddblake makes them
DAMAGED = "k007"  # the one item whose price is 19.99
PRICES = ["3.25", "20", "0.5", "1234.5678", "7"]


def iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


def item(i: int, price: str | None = None) -> dict[str, Any]:
    price = price or ("19.99" if i == 7 else PRICES[i % len(PRICES)])
    return {"pk": {"S": f"k{i:03d}"}, "price": {"N": price}, "note": {"S": f"item {i}"}}


def snapshot(lake: Path, ddb: Any, table: str, items: list[dict[str, Any]], *,
             fmt: int = 2, parts: int = 2) -> str:
    """Commit ``items`` as a snapshot of ``table`` at T0, in lake format ``fmt``."""
    description = describe_table(ddb, table)
    keys = KeySchema.from_description(description)
    writer = SnapshotWriter(LocalFileIO(lake), table, layout.new_id(T0), keys)
    size = -(-len(items) // parts)
    for seq in range(parts):
        chunk = copy.deepcopy(items[seq * size:(seq + 1) * size])
        if chunk:
            encoded = writer.encode(chunk) if fmt == 2 else encode_items(chunk, keys)
            writer.write_part(layout.part_name(0, seq), encoded)
    manifest = writer.commit(source=Source(table, "scan"), table_description=description,
                             consistency=Consistency("exact", iso(T0), iso(T0)))
    assert manifest.format_version == fmt
    return str(manifest.snapshot_id)


def changes(lake: Path, ddb: Any, table: str, records: list[ChangeRecord]) -> None:
    keys = KeySchema.from_description(describe_table(ddb, table))
    write_change_batch(LocalFileIO(lake), table, keys, records, source={"kind": "test"},
                       positions={"shard": "1"},
                       batch_id=layout.new_id(T0 + timedelta(seconds=30)))


def change(seconds: int, new: dict[str, Any] | None, old: dict[str, Any] | None,
           key: str, seq: str) -> ChangeRecord:
    op = infer_operation(new, old)
    return ChangeRecord(int((T0 - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1e6)
                        + seconds * 1_000_000, op, {"pk": {"S": key}}, new, old, "test", seq)


@pytest.fixture
def orders(ddb: Any, lake_dir: Path) -> list[dict[str, Any]]:
    create_table(ddb, "orders")
    items = [item(i) for i in range(20)]
    snapshot(lake_dir, ddb, "orders", items)
    return items


def render_19_99_differently(monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB's format 2 rebuild renders the decimal 19.99 as ``19.990`` (as a DuckDB version
    that kept trailing zeros would): the SQL ddblake generates, broken in this process."""
    original = format2sql._number_text

    def broken(expr: str, scale: int) -> str:
        text = original(expr, scale)
        return f"(CASE WHEN {text} = '19.99' THEN '19.990' ELSE {text} END)"

    monkeypatch.setattr(format2sql, "_number_text", broken)


def read_images_differently(monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB's reading of change images renders ``"19.99"`` as ``"19.990"``."""
    original = selections.image_sql

    def broken(image: str, *args: Any, **kwargs: Any) -> str:
        sql = original(image, *args, **kwargs)
        plain = f"CAST({image} AS JSON) AS _item"
        assert plain in sql
        return sql.replace(plain, f"CAST(replace(CAST({image} AS VARCHAR), '\"19.99\"', "
                                  f"'\"19.990\"') AS JSON) AS _item")

    monkeypatch.setattr(selections, "image_sql", broken)


def restore_cli(capsys: pytest.CaptureFixture[str], lake: Path, *args: str) -> tuple[int, str]:
    code, _, err = run_cli(capsys, "restore", "--lake", str(lake), "-q", *args)
    return code, err


def tables(ddb: Any) -> list[str]:
    return list(ddb.list_tables()["TableNames"])


def by_key(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    return {i["pk"]["S"]: from_client(i) for i in scan_all(ddb, table)}


# -- (a) a snapshot whose items DuckDB rebuilds wrongly ---------------------------------------


def test_a_wrong_rebuild_refuses_the_restore_before_anything_is_written(
        ddb: Any, lake_dir: Path, orders: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    render_19_99_differently(monkeypatch)
    code, err = restore_cli(capsys, lake_dir, "orders", "--to", "orders-new")
    assert code == 4, err
    assert '1 selected item(s) of table orders' in err and f'pk="{DAMAGED}"' in err
    assert "/snapshots/" in err and ".parquet" in err  # the part holding its row
    assert "ddblake verify --all --deep" in err and "nothing was written" in err
    assert "orders-new" not in tables(ddb)  # refused before the table was created
    io = LocalFileIO(lake_dir)
    assert not list(io.iter_objects(layout.restores_prefix("orders")))  # nor a journal


def test_an_existing_target_receives_nothing(
        ddb: Any, lake_dir: Path, orders: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    create_table(ddb, "live")
    render_19_99_differently(monkeypatch)
    code, err = restore_cli(capsys, lake_dir, "orders", "--to", "live", "--existing",
                            "--where", "price > 3")
    assert code == 4 and f'pk="{DAMAGED}"' in err
    assert scan_all(ddb, "live") == []


def test_dry_run_reports_the_damaged_item(
        ddb: Any, lake_dir: Path, orders: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    render_19_99_differently(monkeypatch)
    code, err = restore_cli(capsys, lake_dir, "orders", "--to", "orders-new", "--dry-run")
    assert code == 4 and f'pk="{DAMAGED}"' in err and "ddblake verify --all --deep" in err
    code, err = restore_cli(capsys, lake_dir, "orders", "--to", "orders-new", "--dry-run",
                            "--where", "price < 19")  # the damaged item is not selected
    assert code == 0, err


def test_units_check_what_they_receive_and_resume_checks_again(
        ddb: Any, lake_dir: Path, orders: list[dict[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    """Rows that reach a unit without the driver's check (as when units select their own
    rows): the unit holding the damaged item writes none of its batch and is not finished;
    a resume checks again; once the rebuild is right, the right item is written."""
    with pytest.MonkeyPatch.context() as broken:
        render_19_99_differently(broken)
        broken.setattr(restore_module, "_refuse_damaged", lambda *a: None)
        code, err = restore_cli(capsys, lake_dir, "orders", "--to", "out", "--unit-rows", "5")
        assert code == 4, err
        assert f'pk="{DAMAGED}"' in err and "of restore" in err and "unit " in err
        assert DAMAGED not in by_key(ddb, "out")
        io = LocalFileIO(lake_dir)
        [journal_key] = [i.key for i in io.iter_objects(layout.restores_prefix("orders"))
                         if i.key.endswith("journal.json")]
        journal = json.loads(io.read(journal_key))
        assert len(journal["done"]) < journal["units"]
        code, err = restore_cli(capsys, lake_dir, "orders", "--to", "out", "--unit-rows", "5",
                                "--resume")
        assert code == 4 and DAMAGED not in by_key(ddb, "out")
    # (a resume is refused now: the selection's fingerprint hashes the texts DuckDB gives)
    code, err = restore_cli(capsys, lake_dir, "orders", "--to", "out", "--unit-rows", "5",
                            "--existing")
    assert code == 0, err
    got = by_key(ddb, "out")
    assert {k: value_key(v) for k, v in got.items()} == {
        i["pk"]["S"]: value_key(i) for i in orders}
    assert got[DAMAGED]["price"] == {"N": "19.99"}


def test_format_1_rows_are_checked_against_their_sha256(
        ddb: Any, lake_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Format 1 stores ``_item`` whole: a reader that renders it differently is caught by
    the row's ``_item_sha256``."""
    create_table(ddb, "old")
    snapshot(lake_dir, ddb, "old", [item(i) for i in range(12)], fmt=1)
    original = selections.snapshot_sql

    def misread(paths: list[str], manifest: Any) -> str:
        sql = original(paths, manifest)
        plain = "CAST(_item AS JSON) AS _item"
        assert plain in sql
        return sql.replace(plain, "CAST(replace(CAST(_item AS VARCHAR), '\"19.99\"', "
                                  "'\"19.990\"') AS JSON) AS _item")

    with pytest.MonkeyPatch.context() as broken:
        broken.setattr(selections, "snapshot_sql", misread)
        code, err = restore_cli(capsys, lake_dir, "old", "--to", "old-back")
    assert code == 4 and f'pk="{DAMAGED}"' in err and "/snapshots/" in err, err
    assert "old-back" not in tables(ddb)


def test_a_unit_checks_the_rows_it_receives(ddb: Any, lake_dir: Path,
                                            orders: list[dict[str, Any]],
                                            tmp_path: Path) -> None:
    """Whatever fills a unit's file (the driver's spool, or the unit selecting its own rows
    on another machine), a row altered there is caught by the unit itself, which writes
    nothing of that batch."""
    create_table(ddb, "staged")
    io = LocalFileIO(lake_dir)
    config = RestoreConfig(lake=str(lake_dir), target="staged", existing=True)
    query = Query(resolve_source(io, config), config)
    spool = Spool(2, tmp_path / "spool")
    assert spool.fill(query) == len(orders)
    query.close()
    unit = next(u for u in (0, 1) if DAMAGED.encode() in spool.path(u).read_bytes())
    [batch] = list(read_unit_batches(spool.path(unit), rows=len(orders)))
    texts = [t.replace('"19.99"', '"19.990"') for t in batch.column("_item").to_pylist()]
    altered = batch.set_column(0, "_item", pa.array(texts, pa.string()))
    with pa.OSFile(str(spool.path(unit)), "wb") as sink, \
            pa.ipc.new_stream(sink, altered.schema) as out:
        out.write_batch(altered)
    keys = KeySchema.from_description(describe_table(ddb, "orders"))
    ctx = UnitContext(config, "orders", RID, keys.to_dict(), None, str(spool.root), 0.0)
    with pytest.raises(itemcheck.DamagedItems) as caught:
        write_unit(ctx, unit, client=ddb, io=io)
    assert caught.value.exit_code == 4 and f'pk="{DAMAGED}"' in caught.value.message
    assert f"unit {unit} of restore {RID}" in caught.value.message
    assert scan_all(ddb, "staged") == []  # none of the unit's batch
    assert write_unit(ctx, 1 - unit, client=ddb, io=io).written == len(scan_all(ddb, "staged"))
    spool.close()


# -- (b) time travel: change images and base rows --------------------------------------------


@pytest.fixture
def events(ddb: Any, lake_dir: Path) -> list[dict[str, Any]]:
    """A base snapshot without any 19.99 (but k005's, which a REMOVE without an old image
    deletes), then k003 changed to 19.99 and k005 removed."""
    create_table(ddb, "events")
    base = [item(i, "20" if i != 5 else "19.99") for i in range(10)]
    snapshot(lake_dir, ddb, "events", base)
    changes(lake_dir, ddb, "events", [
        change(10, item(3, "19.99"), item(3, "20"), "k003", "1"),
        change(12, None, None, "k005", "2")])
    return base


def test_as_of_checks_change_images(
        ddb: Any, lake_dir: Path, events: list[dict[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.MonkeyPatch.context() as broken:
        read_images_differently(broken)
        code, err = restore_cli(capsys, lake_dir, "events", "--to", "back",
                                "--as-of", iso(T0 + timedelta(seconds=11)))
    assert code == 4, err
    assert 'pk="k003"' in err and "/changes/" in err and "as of" in err
    assert "back" not in tables(ddb)
    code, err = restore_cli(capsys, lake_dir, "events", "--to", "back",
                            "--as-of", iso(T0 + timedelta(seconds=11)))
    assert code == 0, err
    assert by_key(ddb, "back")["k003"]["price"] == {"N": "19.99"}


def test_as_of_checks_rebuilt_base_rows(
        ddb: Any, lake_dir: Path, events: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    render_19_99_differently(monkeypatch)
    code, err = restore_cli(capsys, lake_dir, "events", "--to", "back",
                            "--as-of", iso(T0 + timedelta(seconds=5)))
    assert code == 4 and 'pk="k005"' in err and "/snapshots/" in err, err


def test_deleted_between_checks_images_taken_from_the_base(
        ddb: Any, lake_dir: Path, events: list[dict[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    """k005's REMOVE carries no old image: its last image is the base snapshot's row,
    rebuilt by DuckDB, and checked against that row's recorded hash."""
    window = (iso(T0 + timedelta(seconds=1)), iso(T0 + timedelta(seconds=20)))
    with pytest.MonkeyPatch.context() as broken:
        render_19_99_differently(broken)
        code, err = restore_cli(capsys, lake_dir, "events", "--to", "gone",
                                "--deleted-between", *window)
    assert code == 4 and 'pk="k005"' in err, err
    assert "gone" not in tables(ddb)
    code, err = restore_cli(capsys, lake_dir, "events", "--to", "gone",
                            "--deleted-between", *window)
    assert code == 0, err
    assert by_key(ddb, "gone") == {"k005": item(5, "19.99")}


# -- (c) the edge corpus restores with every check passing -----------------------------------

EXTRA = [
    {"pk": {"S": "limits"}, "big": {"N": "1E+125"}, "tiny": {"N": "1E-130"},
     "digits": {"N": "-12345678901234567890123456789012345678"},
     "negzero": {"NS": ["-0.0", "1"]}, "zero": {"N": "-0E+3"}},
    {"pk": {"S": "controls"}, "s": {"S": "\x0b\x0e\x0f\x1a\x1b\x1f\x01 end"},
     "ss": {"SS": ["\x1f", "\x0b"]}, "m": {"M": {"\x1a": {"S": "\x0e"}}}},
    {"pk": {"S": "typed"}, "price": {"N": "19.99"}, "qty": {"N": "3"}, "ok": {"BOOL": True},
     "tags": {"SS": ["b", "a"]}, "raw": {"B": "AAEC"}, "blobs": {"BS": ["AQ==", "AA=="]},
     "nums": {"NS": ["2.50", "1"]}, "meta": {"M": {"z": {"L": [{"N": "1"}, {"NULL": True}]},
                                                   "a": {"NS": ["3", "-1"]}}}},
]


@pytest.mark.parametrize("fmt", [2, 1])
def test_edge_corpus_restores_with_every_check_passing(
        ddb: Any, lake_dir: Path, fmt: int, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    corpus = [i for i in EDGE_ITEMS if i["pk"]["S"] != "big"] + EXTRA  # 300 kB: slow in moto
    create_table(ddb, "edge")
    snapshot(lake_dir, ddb, "edge", corpus, fmt=fmt, parts=3)
    checked: list[int] = []
    original = itemcheck.damaged_rows

    def counted(batch: pa.RecordBatch) -> list[int]:
        found = original(batch)
        assert found == []
        checked.append(batch.num_rows)
        return found

    monkeypatch.setattr(itemcheck, "damaged_rows", counted)
    code, err = restore_cli(capsys, lake_dir, "edge", "--to", "edge-back")
    assert code == 0, err
    assert sum(checked) == 2 * len(corpus)  # by the driver, then by the units
    got = {value_key(from_client(i)) for i in scan_all(ddb, "edge-back")}
    assert got == {value_key(copy.deepcopy(i)) for i in corpus}


# -- the check itself ---------------------------------------------------------------------------


def rows(texts: list[bytes | None], hashes: list[int | None]) -> pa.RecordBatch:
    return pa.record_batch({"_item": pa.array([t.decode() if t is not None else None
                                               for t in texts], pa.string()),
                            "_item_hash": pa.array(hashes, pa.int64())})


def canonical(item_: dict[str, Any]) -> bytes:
    return canonical_bytes(copy.deepcopy(item_))


def test_the_check_accepts_other_renderings_of_the_same_item_only() -> None:
    item_ = {"pk": {"S": "a\x1fb"}, "s": {"SS": ["b", "a"]}, "n": {"N": "1.50"}}
    text = canonical(item_)
    recorded = hash_of(text)
    upper = text.replace(b"\\u001f", b"\\u001F")  # DuckDB's escape
    assert upper != text
    reordered = text.replace(b'["a","b"]', b'["b","a"]')
    assert reordered != text
    spaced = text.replace(b",", b", ")
    other = text.replace(b'"1.50"', b'"1.5"')  # another number text: another item
    batch = rows([text, upper, reordered, spaced, other, b"not json", None, text],
                 [recorded] * 7 + [None])
    assert itemcheck.damaged_rows(batch) == [4, 5, 6, 7]


def test_the_fast_path_computes_hash_of() -> None:
    texts = [canonical(i) for i in EDGE_ITEMS]
    assert itemcheck.damaged_rows(rows(list(texts), [hash_of(t) for t in texts])) == []
    flipped = [hash_of(t) ^ 1 for t in texts]
    assert itemcheck.damaged_rows(rows(list(texts), list(flipped))) == list(range(len(texts)))


def test_the_message_lists_ten_and_counts_the_rest() -> None:
    keys = KeySchema.from_description({"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                                       "AttributeDefinitions": [
                                           {"AttributeName": "id", "AttributeType": "S"}]})
    batch = pa.record_batch({"_item": pa.array(["{}"] * 12), "_item_hash": pa.array(
        [1] * 12, pa.int64()), "_k0": pa.array([f"id{i}" for i in range(12)])})
    tally = itemcheck.Tally(keys)
    tally.add(batch)
    error = itemcheck.DamagedItems("t", "snapshot s", tally, lake="./lake")
    assert error.exit_code == 4 and tally.count == 12
    assert 'id="id9"' in str(error) and 'id="id10"' not in str(error)
    assert "and 2 more" in str(error)

