"""``ddblake query``, ``ddblake shell`` and ``ddblake audit``: SQL over the lake."""

from __future__ import annotations

import sys
from typing import IO, Any

import click
import pyarrow as pa

from ddblake.cli import cli
from ddblake.options import profile_option, quiet_option, region_option, table_option
from ddblake.output import FORMATS, output_options, render, render_to
from lake.aws import make_session
from lake.fileio import load_file_io
from queries.audits import list_audits, run_audit
from queries.session import LakeSession, QueryOptions
from queries.sqltext import parse_time
from schemas.errors import UsageError

VIEWS_HELP = """Views: snapshots, items (latest snapshot of --table, or the lake's only table;
--snapshot / --as-of move it), changes, and the table macros snapshot_items('<id>'),
diff('<id a>', '<id b>'), as_of('<table>', '<time>'), history('<table>', '<pk>')."""

lake_flag = click.option("--lake", envvar="DDBLAKE_LAKE", show_envvar=True, default=None,
                         help="The lake: a local folder or s3://bucket/prefix.")
snapshot_flag = click.option("--snapshot", default=None, metavar="ID",
                             help="Point `items` at this snapshot (default: the latest).")
as_of_flag = click.option("--as-of", "as_of", default=None, metavar="TIME",
                          help="Point `items` at the table as it was at TIME (ISO 8601; "
                               "UTC when no offset), rebuilt from snapshots + change log.")


def open_session(lake: str | None, table: str | None, snapshot: str | None,
                 as_of: str | None, profile: str | None, region: str | None) -> LakeSession:
    if not lake:
        raise UsageError("no lake given", hint="pass --lake PATH|s3://bucket/prefix "
                                               "or set DDBLAKE_LAKE")
    session = make_session(profile, region) if (profile or region) else None
    io = load_file_io(lake, session=session)
    when = parse_time(as_of, what="--as-of") if as_of else None
    return LakeSession(io, QueryOptions(table=table, snapshot=snapshot, as_of=when))


def _notes(session: LakeSession) -> None:
    for note in dict.fromkeys(session.notes):
        click.echo(f"note: {note}", err=True)


def write_parquet(reader: pa.RecordBatchReader, path: str | None) -> int:
    import pyarrow.parquet as pq

    if path is None and sys.stdout.isatty():
        raise UsageError("refusing to write Parquet to a terminal", hint="add --output FILE")
    sink: Any = path if path else sys.stdout.buffer
    rows = 0
    with pq.ParquetWriter(sink, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


@cli.command("query", epilog=VIEWS_HELP)
@click.argument("sql", required=False)
@lake_flag
@table_option
@snapshot_flag
@as_of_flag
@click.option("--file", "-f", "sql_file", type=click.File("r"), default=None,
              help="Read the SQL from FILE ('-' for stdin).")
@click.option("--print-setup", is_flag=True,
              help="Print the SQL that sets up the same views in any DuckDB, then exit.")
@click.option("--with-credentials", is_flag=True,
              help="With --print-setup: print the S3 secret unredacted.")
@output_options(formats=(*FORMATS, "parquet"))
@profile_option
@region_option
@quiet_option
def query_command(sql: str | None, lake: str | None, table: str | None, snapshot: str | None,
                  as_of: str | None, sql_file: IO[str] | None, print_setup: bool,
                  with_credentials: bool, fmt: str, output: str | None, profile: str | None,
                  region: str | None, quiet: bool) -> None:
    """Run one read-only SQL query over the lake with DuckDB; results stream to stdout.

    COPY, SET, CREATE, ATTACH, INSTALL and other statements that are not queries are
    refused (exit 2): write results with --format/--output, or feed --print-setup to a
    full DuckDB.

    \b
    ddblake query --lake ./lake "SELECT status, count(*) FROM items GROUP BY ALL"
    ddblake query --lake ./lake --as-of 2026-11-17T14:00:00Z "SELECT * FROM items"
    ddblake query --lake ./lake --print-setup | duckdb
    """
    with open_session(lake, table, snapshot, as_of, profile, region) as session:
        if print_setup:
            for statement in session.setup_sql(redact=not with_credentials):
                click.echo(statement.rstrip(";") + ";")
            _notes(session)
            return
        text = sql_file.read() if sql_file else sql
        if not text or not text.strip():
            raise UsageError("no SQL given", hint="pass the SQL as an argument or with --file")
        reader = session.reader(text)
        _notes(session)
        rows = write_parquet(reader, output) if fmt == "parquet" else \
            render_to(reader, fmt, output)
        if not quiet and sys.stderr.isatty():
            click.echo(f"{rows} rows", err=True)


@cli.command("shell", epilog=VIEWS_HELP)
@lake_flag
@table_option
@snapshot_flag
@as_of_flag
@profile_option
@region_option
def shell_command(lake: str | None, table: str | None, snapshot: str | None,
                  as_of: str | None, profile: str | None, region: str | None) -> None:
    """An interactive SQL prompt over the lake with the views ready.

    End each statement with ';'. `.views` lists the views, `.quit` (or Ctrl-D) leaves.
    Read-only queries run (SELECT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN); other statements
    (COPY, SET, CREATE, ATTACH, ...) are refused with a message and the shell goes on.
    """
    with open_session(lake, table, snapshot, as_of, profile, region) as session:
        session.connection  # noqa: B018 - set the views up before the first prompt
        _notes(session)
        interactive = sys.stdin.isatty()
        if interactive:
            import contextlib

            with contextlib.suppress(ImportError):
                import readline  # noqa: F401 - line editing and history
            click.echo(f"ddblake shell on {session.io.uri}. {VIEWS_HELP}", err=True)
        _repl(session, interactive)


def _repl(session: LakeSession, interactive: bool) -> None:
    buffer: list[str] = []
    while True:
        try:
            line = input("ddblake> " if not buffer else "   ...> ") if interactive \
                else sys.stdin.readline()
        except EOFError:
            break
        if not interactive and line == "":
            break
        stripped = line.strip()
        if not buffer and stripped in (".quit", ".exit"):
            break
        if not buffer and stripped == ".views":
            render(session.query("SELECT table_name, table_type FROM information_schema.tables "
                                 "WHERE table_name NOT LIKE '\\_%' ESCAPE '\\' "
                                 "ORDER BY 1"), "table")
            continue
        buffer.append(line)
        if stripped.endswith(";"):
            _run_one(session, "\n".join(buffer))
            buffer = []


def _run_one(session: LakeSession, sql: str) -> None:
    """Run each statement of ``sql``; an error is reported and the shell goes on."""
    from schemas.errors import DdbLakeError

    try:
        for statement in session.statements(sql):
            render(session.reader(statement), "table")
    except DdbLakeError as e:
        click.secho(f"error: {e.message}", fg="red", err=True)
        if e.hint:
            click.echo(f"hint: {e.hint}", err=True)
    except KeyboardInterrupt:
        session.connection.interrupt()
        click.echo("interrupted", err=True)


@cli.command("audit")
@click.argument("name", required=False)
@lake_flag
@table_option
@snapshot_flag
@as_of_flag
@click.option("--param", "-p", "params", multiple=True, metavar="KEY=VALUE",
              help="An audit parameter (repeatable); see --list.")
@click.option("--list", "list_only", is_flag=True, help="List the audits and their parameters.")
@output_options()
@profile_option
@region_option
def audit_command(name: str | None, lake: str | None, table: str | None, snapshot: str | None,
                  as_of: str | None, params: tuple[str, ...], list_only: bool, fmt: str,
                  output: str | None, profile: str | None, region: str | None) -> None:
    """Run a query from the audit library (integrity, attribute-profile, deleted-between ...).

    \b
    ddblake audit --list
    ddblake audit integrity --lake ./lake
    ddblake audit deleted-between --lake ./lake -p t1=2026-11-17T00:00Z -p t2=2026-11-18T00:00Z
    """
    if list_only or not name:
        rows = [{"audit": a.name,
                 "params": ", ".join(p.name + (f"={p.default}" if p.default else "")
                                     for p in a.params),
                 "description": a.description} for a in list_audits()]
        render_to(rows, fmt, output, columns=["audit", "params", "description"])
        return
    values = {}
    for pair in params:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--param {pair!r} is not KEY=VALUE", hint="e.g. -p n=20")
        values[key.strip()] = value
    with open_session(lake, table, snapshot, as_of, profile, region) as session:
        result = run_audit(session, name, values)
        for note in dict.fromkeys(result.notes):
            click.echo(f"note: {note}", err=True)
        render_to(result.table, fmt, output)
