"""``ddblake stream``: consume a table's DynamoDB stream into the lake's change log."""

from __future__ import annotations

import signal
from datetime import UTC, datetime

import click

from ddblake.cli import cli
from ddblake.options import lake_option, profile_option, quiet_option, region_option
from ddblake.output import summary
from ddblake.progress import TerminalProgress
from exporter.streams import StreamConfig, StreamConsumer, StreamResult
from lake.aws import make_client, make_session
from lake.fileio import load_file_io


def _when(micros: int | None) -> str:
    if micros is None:
        return "-"
    return datetime.fromtimestamp(micros / 1_000_000, UTC).isoformat(timespec="milliseconds")


def _report(result: StreamResult) -> dict[str, object]:
    return {"table": result.table, "stream": result.stream_arn, "batches": result.batches,
            "records": result.records, "duplicates_skipped": result.duplicates,
            "expired_iterators": result.expired_iterators,
            "gaps": [{"shard": g.shard, "from": _when(g.from_us), "to": _when(g.to_us),
                      "reason": g.reason} for g in result.gaps] or "none",
            "log_complete_from": _when(result.covered_from_us),
            "log_complete_to": _when(result.covered_to_us), "stopped": result.stopped}


@cli.command("stream")
@click.argument("table")
@lake_option
@click.option("--flush-seconds", type=click.FloatRange(min=0.001), default=60.0,
              show_default=True, help="Commit a change batch at least this often.")
@click.option("--flush-records", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Commit a change batch when this many records are waiting.")
@click.option("--max-seconds", type=click.FloatRange(min=0.001), default=None,
              help="Stop after this many seconds (after a final commit); for cron jobs.")
@click.option("--once", is_flag=True,
              help="Stop as soon as every shard is read to its end and committed.")
@click.option("--start", type=click.Choice(["trim-horizon", "latest"]), default="trim-horizon",
              show_default=True,
              help="First run only: read the stream's last 24 hours, or only new changes.")
@click.option("--poll-seconds", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Pause between reads when every shard is idle.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Summary format (json goes to stdout).")
@profile_option
@region_option
@quiet_option
def stream(table: str, lake: str, flush_seconds: float, flush_records: int,
           max_seconds: float | None, once: bool, start: str, poll_seconds: float, fmt: str,
           profile: str | None, region: str | None, quiet: bool) -> None:
    """Capture every change of TABLE from its DynamoDB stream into the lake.

    Runs until stopped (Ctrl-C or SIGTERM: it commits what it has read, then exits),
    --max-seconds or --once. Reads all shards, parents before
    children, commits a change batch every --flush-seconds or --flush-records, and records
    shard positions in the lake only after each commit, so a restart continues where the last
    commit ended: nothing is lost and nothing is written twice. Data trimmed from the stream
    before it was read is reported as a gap. The table needs a NEW_AND_OLD_IMAGES stream.
    """
    session = make_session(profile, region)
    config = StreamConfig(table, flush_seconds=flush_seconds, flush_records=flush_records,
                          max_seconds=max_seconds, once=once, start=start.replace("-", "_"),
                          poll_seconds=poll_seconds)
    consumer = StreamConsumer(load_file_io(lake, session=session), config,
                              ddb=make_client("dynamodb", session),
                              streams=make_client("dynamodbstreams", session),
                              listener=TerminalProgress(quiet=quiet))
    previous = {sig: signal.signal(sig, lambda *_: consumer.stop())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = consumer.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    summary(_report(result), fmt)
