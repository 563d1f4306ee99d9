"""``ddblake coverage``: which seconds of a table's history the lake rebuilds exactly."""

from __future__ import annotations

from typing import Any

from ddblake.cli import cli
from ddblake.options import lake_option, profile_option, region_option, table_option
from ddblake.output import output_options, render_to
from lake import catalog
from lake.aws import make_session
from lake.coverage import coverage, describe
from lake.fileio import load_file_io


def coverage_rows(cov: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"table": cov["table"], "what": "exact", "from": i["from"], "to": i["to"],
             "detail": f"base snapshot {i['base']}"} for i in cov["exact"]]
    rows += [{"table": cov["table"], "what": "GAP", "from": g["from"], "to": g["to"],
              "detail": g["reason"]} for g in cov["gaps"]]
    rows += [{"table": cov["table"], "what": "change log", "from": i["from"], "to": i["to"],
              "detail": "complete"} for i in cov["log"]]
    rows += [{"table": cov["table"], "what": "compacted", "from": c["from"], "to": c["to"],
              "detail": c["reason"]} for c in cov.get("compacted", [])]
    return rows


@cli.command("coverage")
@lake_option
@table_option
@output_options()
@profile_option
@region_option
def coverage_command(lake: str, table: str | None, fmt: str, output: str | None,
                     profile: str | None, region: str | None) -> None:
    """Show the intervals in which a table can be rebuilt exactly (as_of to the second),
    the gaps in its change log, and where the change log is complete.

    An instant is exact when a snapshot is at or before it and the change log is complete
    from that snapshot's consistency point (a fuzzy scan: its start) up to the instant.
    """
    io = load_file_io(lake, session=make_session(profile, region))
    tables = [table] if table else catalog.list_tables(io)
    rows = [row for name in tables for row in coverage_rows(describe(coverage(io, name)))]
    render_to(rows, fmt, output, columns=("table", "what", "from", "to", "detail"))
