"""Hostile ``--where`` filters: each is refused (exit 2, with a hint) or selects a subset of
the selected snapshot's items, never anything else.

The lake holds, besides the selected (latest) snapshot of ``orders``, an older snapshot of
``orders`` and a snapshot of another table whose items say ``ESCAPED``: a filter that
reached them would bring back an item that is not in the selection.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lake import layout
from lake.fileio import load_file_io
from queries.predicate import callable_functions
from restorer import restore
from restorer.config import RestoreConfig
from restorer.select import Query, resolve_source
from schemas.dynamo_json import canonical_bytes, from_client, value_key
from schemas.errors import DdbLakeError
from tests.helpers import REGION, scan_all
from tests.restorer.lakehelp import snapshot_items

DESCRIPTION = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}


def item(pk: str, status: str, qty: str, note: str = "ok") -> dict[str, Any]:
    return {"pk": {"S": pk}, "status": {"S": status}, "qty": {"N": qty}, "note": {"S": note},
            "tags": {"SS": ["a", "b"]}}


SELECTED = [item(f"p{i}", "active" if i % 3 else "gone", str(i), "ok") for i in range(30)]
OLD = [item(f"old{i}", "active", str(100 + i), "ESCAPED-old") for i in range(5)]
OTHER = [item(f"x{i}", "active", "7", "ESCAPED-other") for i in range(5)]


def texts(items: list[dict[str, Any]]) -> set[str]:
    return {canonical_bytes(json.loads(json.dumps(i))).decode() for i in items}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "lake"
    root.mkdir()
    old = snapshot_items(root, "orders", OLD, {"TableName": "orders", **DESCRIPTION})
    snapshot_items(root, "other", OTHER, {"TableName": "other", **DESCRIPTION})
    snapshot_items(root, "orders", SELECTED, {"TableName": "orders", **DESCRIPTION}, parts=3)
    assert old.parts
    return root


def old_part(lake: Path) -> str:
    io = load_file_io(str(lake))
    from lake import catalog

    manifest = catalog.list_snapshots(io, "orders")[0]
    assert manifest.parts[0].path
    return str(lake / layout.snapshot_part("orders", manifest.snapshot_id,
                                           manifest.parts[0].path))


def outcome(lake: Path, where: str) -> set[str] | DdbLakeError:
    """What a restore with ``where`` would write (the spooled item texts), or its refusal."""
    config = RestoreConfig(lake=str(lake), target="t", table="orders", where=where)
    io = load_file_io(str(lake))
    try:
        query = Query(resolve_source(io, config), config)
        try:
            return {str(t) for b in query.batches(3) for t in b.column("_item").to_pylist()}
        finally:
            query.close()
    except DdbLakeError as e:
        return e


def check(lake: Path, where: str) -> set[str] | DdbLakeError:
    """The property: refused with exit 2 and a hint, or a subset of the selection."""
    got = outcome(lake, where)
    if isinstance(got, DdbLakeError):
        assert got.exit_code == 2 and got.hint, (where, got)
        assert "Traceback" not in str(got)
    else:
        assert got <= texts(SELECTED), (where, got - texts(SELECTED))
    return got


def escapes(part: str) -> list[str]:
    """Attempts to leave the expression, one per quoting DuckDB has."""
    union = f" UNION ALL SELECT _item FROM read_parquet('{part}')"
    return [
        f"status = $$x')$$){union} WHERE ($$x$$ = $$x",       # dollar quoting
        f"status = $q$x')$q$){union} --",                      # tagged dollar quoting
        f"status = E'x\\'' ){union} --",                       # E'' escapes
        f"status = U&'\\0027'){union} --",                     # U&'' unicode escapes
        f"\"status\"\") {union} --\" = 'x'",                   # quoted identifiers
        f"true /* /* */ ){union} --",                          # nested comments
        f"true --\n){union}",                                  # line comments
        f"true;{union.replace(' UNION ALL', '')}",             # a second statement
        f"true) OR (true{union}",                              # unbalanced parentheses
        f"((true){union}",
        f"_pk IN (SELECT _pk FROM read_parquet('{part}'))",    # subqueries
        f"EXISTS (SELECT 1 FROM read_parquet('{part}'))",
        f"true FROM read_parquet('{part}')",                   # clauses after the expression
    ]


REFUSED = [
    "(SELECT true)", "status IN (SELECT 'active')", "read_text('/etc/hostname') IS NOT NULL",
    "len(read_blob('/etc/hostname')) > 0", "current_setting('s3_secret_access_key') <> ''",
    "main.current_setting('threads') <> ''", "system.main.lower(status) = 'active'",
    "getenv('HOME') <> ''", "getvariable('x') IS NULL", "version() <> ''",
    "json_serialize_plan('SELECT 1') <> ''", "(SELECT count(*) FROM duckdb_settings()) > 0",
    "(FROM duckdb_secrets() SELECT count(*)) = 0", "count(*) > 0",
    "row_number() OVER () > 0", "COLUMNS(*) IS NOT NULL", "random() < 2", "nextval('s') > 0",
    "sleep_ms(100000) IS NULL", "pg_sleep(1000) IS NULL", "error('x') IS NULL",
    "write_log('x') IS NULL", "current_database() <> ''", "txid_current() > 0",
    "status = $1", "status = ?", "#1 = 'x'", "true WHERE false", "true ORDER BY 1",
    "true LIMIT 1", "DISTINCT true", "true UNION SELECT true", "true, false",
    "list_transform([1], lambda x: (SELECT x)) = [1]", "1", "qty", "NULL", "'abc'", "",
    "   ", "status = 'a\x00' OR true", "NOT " * 3000 + "true",
    "nosuchcolumn = 1", "status = ", "COPY (SELECT 1) TO '/tmp/ddblake-pwned.csv'",
    "SET enable_external_access = true", "ATTACH '/tmp/ddblake-pwned.db' AS x",
    "INSTALL httpfs", "sum(qty) OVER (PARTITION BY status) > 0",
    "string_agg(status, ',') <> ''", "query('SELECT 1') IS NOT NULL",
    "glob('/etc/*') IS NOT NULL", "typeof(current_setting('threads')) = 'VARCHAR'",
]

ACTIVE = {t for t in texts(SELECTED) if '"active"' in t}
ACCEPTED = [
    "status = 'active'", "status = $$active$$", "status = $tag$active$tag$",
    "status = E'active'", "\"status\" = 'active'", "status = 'active' -- OR true",
    "status = 'active' /* OR true /* nested */ OR true */", "status = 'a' || 'ctive'",
    "lower(status) LIKE 'act%'", "_item->>'$.status.S' = 'active'",
    "json_extract_string(_item, '$.status.S') = 'active'", "nullif(status, 'x') = 'active'",
    "len(list_transform([1, 2], lambda x: x + 1)) = 2 AND status = 'active'",
    "now() > TIMESTAMP '2000-01-01' AND status = 'active'",
    "status = 'active' AND TRY_CAST(status AS INTEGER) IS NULL",
    "CASE WHEN status = 'active' THEN true ELSE false END",
    "status IN ('active', 'ESCAPED') AND note <> 'ESCAPED-old'",
    "(" * 3000 + "status = 'active'" + ")" * 3000,
]


def test_escapes_through_every_quoting_are_refused(lake: Path) -> None:
    for where in escapes(old_part(lake)):
        got = check(lake, where)
        assert isinstance(got, DdbLakeError), where


def test_a_nested_comment_is_all_comment(lake: Path) -> None:
    """DuckDB nests block comments: what looks like an escape is inside the comment."""
    assert check(lake, nested_comment(lake)) == ACTIVE


def nested_comment(lake: Path) -> str:
    return (f"status = 'active' /* /* */ ) UNION ALL SELECT _item FROM "
            f"read_parquet('{old_part(lake)}') /* */ */")


@pytest.mark.parametrize("where", REFUSED)
def test_not_one_plain_boolean_expression_is_refused(lake: Path, where: str) -> None:
    got = check(lake, where)
    assert isinstance(got, DdbLakeError), where
    assert got.message.startswith("the --where filter"), got.message


@pytest.mark.parametrize("where", ACCEPTED)
def test_quoting_and_comments_inside_one_expression_are_fine(lake: Path, where: str) -> None:
    assert check(lake, where) == ACTIVE


def test_a_filter_that_fails_on_a_row_is_a_clear_error(lake: Path) -> None:
    got = check(lake, "CAST(status AS INTEGER) > 0")
    assert isinstance(got, DdbLakeError)
    assert "failed on a selected row" in got.message and "TRY_CAST" in (got.hint or "")


def test_the_function_rule_is_an_allow_rule() -> None:
    allowed = callable_functions()
    assert {"lower", "regexp_matches", "json_extract_string", "list_transform", "now",
            "~~", "nullif"} <= allowed
    assert not {"current_setting", "getvariable", "read_csv", "read_text", "duckdb_settings",
                "query", "random", "nextval", "sleep_ms", "count_star", "sum", "glob",
                "current_database", "get_block_size", "pg_sleep", "json_serialize_plan",
                "write_log", "error"} & allowed
    # Reviewed by hand: every allowed name that sounds like it reads state is pure.
    suspicious = {n for n in allowed if any(w in n for w in (
        "setting", "variable", "secret", "env", "file", "plan", "extension", "catalog",
        "database", "schema", "sql", "version", "read", "query", "txid", "seq", "glob"))}
    assert suspicious <= {"parse_filename", "formatreadablesize", "formatreadabledecimalsize",
                          "uuid_extract_version", "has_database_privilege",
                          "has_schema_privilege", "has_sequence_privilege",
                          "pg_conversion_is_visible", "pg_my_temp_schema",
                          "pg_is_other_temp_schema"}, suspicious


FRAGMENTS = st.sampled_from([
    "$$", "$t$", "$", "'", "''", "E'", "U&'", '"', '""', "/*", "*/", "--", "\n", ";", "(", ")",
    "[", "]", "{", "}", ",", "\\", "#1", "$1", "?", "::", " ", " OR true ", " AND ", "NOT ",
    "status", "_item", "qty", " = ", "'active'", "$$x')$$", " UNION ALL SELECT _item FROM ",
    "read_parquet('OLD')", "(SELECT ", "EXISTS ", " FROM ", " WHERE ", "current_setting('x')",
    "duckdb_settings()", "lambda x: ", "x", "->>", "'$.note.S'", "'ESCAPED-old'", "COPY ",
    " ORDER BY 1", " LIMIT 1", "*", "COLUMNS(*)", "true", "false", "NULL", "1",
])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.one_of(FRAGMENTS, st.text(max_size=3)), min_size=1, max_size=14))
def test_generated_filters_are_refused_or_select_a_subset(lake: Path, parts: list[str]) -> None:
    where = "".join(parts).replace("OLD", old_part(lake))
    check(lake, where)


PAYLOAD = st.lists(st.sampled_from([*"'\"$\\;()-/*\n\t #?:,[]{}",
    "UNION ALL SELECT ", "_item", " FROM ", "q", "ok", "read_parquet('OLD')", " OR true", "E'",
    "U&'", "$q$"]), max_size=12).map("".join)


@st.composite
def quoted(draw: st.DrawFn) -> tuple[str, str]:
    """A payload inside one of DuckDB's quotings, correctly escaped: (payload, SQL)."""
    text = draw(PAYLOAD)
    form = draw(st.sampled_from(["standard", "dollar", "tagged", "escape"]))
    if form == "dollar":
        text = text.replace("$", "")
        return text, f"$${text}$$"
    if form == "tagged":
        text = text.replace("$", "")
        return text, f"$q${text}$q$"
    if form == "escape":
        return text, "E'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text, "'" + text.replace("'", "''") + "'"


@st.composite
def commented(draw: st.DrawFn) -> str:
    """A payload inside a comment that it cannot close."""
    text = draw(PAYLOAD).replace("/*", "").replace("*/", "").replace("*", "")
    if draw(st.booleans()):
        return f" /* {text} */ "
    return f" -- {text.replace(chr(10), ' ')}\n"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(literal=quoted(), comment=commented())
def test_quoted_payloads_stay_data(lake: Path, literal: tuple[str, str], comment: str) -> None:
    """Whatever a string literal or a comment holds, the filter means what it says."""
    payload, sql = literal
    part = old_part(lake)
    where = f"(status = 'active' OR note = {sql.replace('OLD', part)}){comment}"
    got = check(lake, where)
    expected = texts(SELECTED) if payload.replace("OLD", part) == "ok" else ACTIVE
    assert got == expected, where


def test_a_filter_that_passed_the_check_still_sees_only_its_rows(lake: Path) -> None:
    """Defence in depth: given expressions the check refuses, the isolated connection
    still has nothing to show but the rows it was handed."""
    config = RestoreConfig(lake=str(lake), target="t", table="orders")
    query = Query(resolve_source(load_file_io(str(lake)), config), config)
    try:
        con = query.isolated
        part = old_part(lake)
        for sql in (f"SELECT * FROM read_parquet('{part}')",
                    "SELECT * FROM read_text('/etc/hostname')",
                    "COPY (SELECT 1) TO '/tmp/ddblake-pwned.csv'",
                    "SET enable_external_access = true", "ATTACH '/tmp/ddblake-pwned.db' AS x",
                    "LOAD httpfs", "SELECT * FROM glob('/etc/*')"):
            with pytest.raises(duckdb.Error):
                con.sql(sql).fetchall()
        assert con.sql("SELECT count(*) FROM duckdb_secrets()").fetchone() == (0,)
        assert con.sql("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
        assert con.sql("SELECT count(*) FROM duckdb_views() WHERE NOT internal"
                       ).fetchone() == (0,)
        with pytest.raises(duckdb.Error):  # no Python variable is reachable by name
            con.sql("SELECT * FROM config").fetchall()
        with pytest.raises(duckdb.PermissionException):
            query._rows().filter(duckdb.SQLExpression(
                f"_pk IN (SELECT _pk FROM read_parquet('{part}')) OR true")).fetchall()
    finally:
        query.close()


class Restores:
    """Real restores into moto tables, one new target per filter."""

    made = 0

    def __init__(self, lake: Path) -> None:
        self.lake = lake
        self.ddb = boto3.client("dynamodb", region_name=REGION)

    def written(self, where: str) -> set[Any] | DdbLakeError:
        """The value keys of the items the restore wrote, or its refusal (then no table)."""
        Restores.made += 1
        target = f"hostile-{Restores.made}"
        config = RestoreConfig(lake=str(self.lake), table="orders", target=target, where=where,
                               unit_rows=10, threads=2)
        try:
            result = restore(config)
        except DdbLakeError as e:
            assert e.exit_code == 2 and e.hint, (where, e)
            assert target not in self.ddb.list_tables()["TableNames"]
            return e
        got = {value_key(from_client(i)) for i in scan_all(self.ddb, target)}
        assert result.ok and result.written == len(got), where
        assert got <= {value_key(i) for i in SELECTED}, where
        return got


def test_everything_a_restore_writes_is_an_item_of_the_snapshot(aws: None, lake: Path) -> None:
    restores = Restores(lake)
    for where in escapes(old_part(lake)) + REFUSED[:12]:
        assert isinstance(restores.written(where), DdbLakeError), where
    active = {value_key(i) for i in SELECTED if i["status"]["S"] == "active"}
    for where in [*ACCEPTED[:6], nested_comment(lake)]:
        assert restores.written(where) == active, where


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(parts=st.lists(FRAGMENTS, min_size=1, max_size=10), literal=quoted(),
       comment=commented())
def test_generated_filters_never_restore_anything_else(aws: None, lake: Path, parts: list[str],
                                                       literal: tuple[str, str],
                                                       comment: str) -> None:
    restores = Restores(lake)
    restores.written("".join(parts).replace("OLD", old_part(lake)))
    got = restores.written(f"status = 'active' AND note <> {literal[1]}{comment}")
    assert got == {value_key(i) for i in SELECTED
                   if i["status"]["S"] == "active" and literal[0] != "ok"}


def test_the_cli_refuses_escapes_with_exit_2(aws: None, lake: Path, capsys: Any) -> None:
    from tests.helpers import run_cli

    for where in escapes(old_part(lake))[:9]:
        code, out, err = run_cli(capsys, "restore", "orders", "--lake", str(lake), "--to",
                                 "t", "--where", where, "--dry-run")
        assert code == 2 and "error: the --where filter" in err and "hint:" in err, err
        assert "ESCAPED" not in out + err and "Traceback" not in err
