"""Convert an export that already sits in a bucket (or a local copy of one) into the lake.

A full export becomes a snapshot; an incremental export becomes change batches. Exports of a
table may be imported in any order: the lake's content, its chain and its coverage depend on
which exports it holds, not on the order they came in (``exporter.export_chain``).

Native exports carry no key schema and no table description. Both come from the export's own
table ARN (``tableArn`` in its summary): DescribeTable is called by ARN in the ARN's region
(never on a same-named table of the default region); a table that was re-created since (another
``tableId``) does not count. When the table cannot be described, a warning says why and the
lake's snapshot of the same table ARN, or the key flags, are used instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from exporter import export_chain
from exporter.export_reader import Export, ExportInfo, open_export
from exporter.incremental import convert_incremental, micros
from exporter.native import WORKER_MODULES, ConvertConfig, convert_full
from lake import catalog, layout
from lake.fileio import FileIO
from lake.progress import NullListener, ProgressListener
from runtime.processes import prestart
from schemas.errors import DdbLakeError, UsageError
from schemas.keys import KeySchema
from schemas.manifest import Manifest

# A region name -> a DynamoDB client for that region (the CLI's profile and endpoint).
ClientForRegion = Callable[[str], Any]


@dataclass
class ImportResult:
    """What a conversion did (``created`` False: it was in the lake already)."""

    kind: Literal["snapshot", "changes"]
    table: str
    export_id: str
    export_arn: str
    items: int
    gzip_bytes: int
    seconds: float
    created: bool
    snapshot_id: str | None = None
    batches: tuple[str, ...] = ()
    chain_end: str | None = None
    description: str | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": self.table, "export_id": self.export_id,
                "export_arn": self.export_arn, "items": self.items,
                "gzip_bytes": self.gzip_bytes, "seconds": round(self.seconds, 3),
                "created": self.created, "snapshot_id": self.snapshot_id,
                "batches": len(self.batches), "chain_end": self.chain_end,
                "description": self.description, "warnings": list(self.warnings)}


@dataclass(frozen=True)
class TableContext:
    """The key schema and rebuildable description, where they came from, and warnings."""

    keys: KeySchema
    description: dict[str, Any]
    origin: str
    warnings: tuple[str, ...] = ()


def minimal_description(table: str, keys: KeySchema, info: ExportInfo) -> dict[str, Any]:
    schema = [{"AttributeName": keys.partition.name, "KeyType": "HASH"}]
    if keys.sort:
        schema.append({"AttributeName": keys.sort.name, "KeyType": "RANGE"})
    return {"TableName": table, "TableArn": info.table_arn, "KeySchema": schema,
            "AttributeDefinitions": [{"AttributeName": a.name, "AttributeType": a.type}
                                     for a in keys.attributes],
            "BillingMode": "PAY_PER_REQUEST", "unavailable": "from the export only"}


def describe_by_arn(info: ExportInfo, client_for: ClientForRegion | None,
                    ) -> tuple[dict[str, Any] | None, str]:
    """DescribeTable of the export's own table (by ARN, in its region); ``(None, why)`` when
    that is not possible or describes another table."""
    from exporter.describe import describe_table

    if client_for is None:
        return None, "the export is a local copy, so ddblake made no AWS call for it"
    where = f"region {info.region}, account {info.account}"
    try:
        described = describe_table(client_for(info.region), info.table_arn)
    except DdbLakeError as e:
        return None, f"DescribeTable failed ({where}): {e.message}"
    if described.get("TableArn") != info.table_arn:
        return None, f"DescribeTable answered for {described.get('TableArn')} ({where})"
    found_id = described.get("TableId")
    if info.table_id and found_id and found_id != info.table_id:
        return None, (f"the table was re-created since the export (its tableId is now "
                      f"{found_id}, the export's is {info.table_id}), so today's "
                      "description is another table's")
    return described, ""


def _lake_tables(lake: FileIO, table: str) -> tuple[Manifest | None, KeySchema | None,
                                                    set[str]]:
    """The lake table's latest snapshot, the key schema its change batches use, and the
    table ARNs its snapshots and native change batches were taken from."""
    ids = catalog.snapshot_ids(lake, table)
    latest = catalog.load_manifest(lake, table, ids[-1]) if ids else None
    arns = {latest.source.table_arn} if latest and latest.source.table_arn else set()
    batch_keys = None
    for batch in catalog.list_change_batches(lake, table):
        batch_keys = batch_keys or batch.key_schema
        if batch.source.get("kind") == export_chain.INCREMENTAL_KIND:
            arns.add(str(batch.source.get("table_arn")))
    return latest, batch_keys, arns


def _check_keys(given: KeySchema | None, found: KeySchema, where: str) -> None:
    if given is not None and given != found:
        raise UsageError(f"--partition-key/--sort-key ({_keys_text(given)}) differ from the "
                         f"key schema of {where} ({_keys_text(found)})",
                         hint="leave the key flags out, or fix them")


def _keys_text(keys: KeySchema) -> str:
    return ", ".join(f"{a.name}:{a.type}" for a in keys.attributes)


def table_context(lake: FileIO, table: str, export: Export, *, keys: KeySchema | None,
                  client_for: ClientForRegion | None = None) -> TableContext:
    """Keys and description of the exported table (see the module docstring)."""
    info = export.info
    latest, batch_keys, arns = _lake_tables(lake, table)
    other = sorted(arns - {info.table_arn})
    if other:
        raise UsageError(f"lake table {table} holds backups of {other[0]}, and this export is "
                         f"of {info.table_arn}: two tables would mix in one history",
                         hint="import it as another lake table: --table NAME")
    known = keys or (latest.key_schema if latest else None) or batch_keys
    if info.incremental and known is not None:  # only the keys are needed
        _check_keys(keys, known, f"lake table {table}")
        return TableContext(known, {}, "key flags" if keys else f"lake table {table}")
    described, why = describe_by_arn(info, client_for)
    if described is not None:
        found = KeySchema.from_description(described)
        _check_keys(keys, found, f"table {info.table_arn}")
        return TableContext(found, described, f"DescribeTable {info.table_arn}")
    return _fallback(table, info, keys, latest, why)


def _fallback(table: str, info: ExportInfo, keys: KeySchema | None, latest: Manifest | None,
              why: str) -> TableContext:
    not_described = f"table {info.table_arn} was not described: {why}"
    if latest is not None:
        _check_keys(keys, latest.key_schema, f"lake snapshot {latest.snapshot_id}")
        origin = f"lake snapshot {latest.snapshot_id}"
        return TableContext(latest.key_schema, latest.table_description, origin,
                            (f"{not_described}; using the description of {origin}",))
    if keys is None:
        raise UsageError(f"the key schema of {table} is unknown: the export does not carry "
                         f"it, the lake has no backup of it and {not_described}",
                         hint="pass --partition-key NAME:TYPE (and --sort-key NAME:TYPE), "
                              "types S, N or B")
    return TableContext(keys, minimal_description(table, keys, info), "key flags",
                        (f"{not_described}; using a minimal description from the key flags "
                         "(keys only, on-demand, no indexes): a restore creates no indexes",))


def import_export(uri: str, lake: FileIO, *, table: str | None = None,
                  keys: KeySchema | None = None, client_for: ClientForRegion | None = None,
                  session: Any = None, s3_client: Any = None,
                  config: ConvertConfig | None = None,
                  listener: ProgressListener | None = None,
                  accept_summary_mismatch: bool = False) -> ImportResult:
    """Verify and convert the export at ``uri`` into ``lake``. ``client_for(region)`` builds
    the DynamoDB client that describes the export's table (None: no AWS call)."""
    listener = listener or NullListener()
    config = config or ConvertConfig()
    source, export = open_export(uri, session=session, s3_client=s3_client,
                                 accept_summary_mismatch=accept_summary_mismatch)
    if config.engine == "local" and min(config.workers,
                                        sum(1 for f in export.files if f.item_count)) > 1:
        prestart(WORKER_MODULES)  # imports for the workers while the key schema is found
    name = layout.check_table_name(table or export.info.table_name)
    context = table_context(lake, name, export, keys=keys, client_for=client_for)
    listener.message(f"export {export.info.export_id}: {export.info.export_type}, "
                     f"{export.info.item_count:,} items in {len(export.files)} files")
    result = convert_export(export, source, lake, table=name, keys=context.keys,
                            description=context.description, config=config, listener=listener)
    result.description = context.origin
    result.warnings = context.warnings + result.warnings
    return result


def convert_export(export: Export, source: FileIO, lake: FileIO, *, table: str,
                   keys: KeySchema, description: dict[str, Any],
                   config: ConvertConfig | None = None,
                   listener: ProgressListener | None = None) -> ImportResult:
    """Convert a located export (full -> snapshot, incremental -> change batches)."""
    started = time.monotonic()
    info = export.info
    warnings = [w for w in [export.summary_check.warning(export.uri(export.export_dir))] if w]
    if info.incremental:
        outcome = convert_incremental(export, source, lake, keys=keys, table=table,
                                      config=config, listener=listener)
        result = ImportResult("changes", table, info.export_id, info.export_arn, outcome.rows,
                              outcome.gzip_bytes, time.monotonic() - started,
                              outcome.created > 0, batches=tuple(outcome.batches))
    else:
        manifest, created = convert_full(export, source, lake, keys=keys, table=table,
                                         table_description=description, config=config,
                                         listener=listener)
        gzip_bytes = int(manifest.extra.get("native_export", {}).get("gzip_bytes", 0))
        result = ImportResult("snapshot", table, info.export_id, info.export_arn,
                              manifest.totals.items, gzip_bytes, time.monotonic() - started,
                              created, snapshot_id=manifest.snapshot_id)
    chain = export_chain.load_chain(lake, table)
    result.chain_end = export_chain.iso(chain.end) if chain else None
    result.warnings = tuple(warnings + gap_warnings(lake, table, info))
    return result


def gap_warnings(lake: FileIO, table: str, info: ExportInfo) -> list[str]:
    """The gaps of the table's change log that touch this export's span (a full export's
    instant, an incremental export's window)."""
    from lake.coverage import coverage, iso_text

    start = info.from_time if info.incremental else (info.export_time or info.start_time)
    end = info.to_time if info.incremental else start
    if start is None or end is None:
        return []
    first, last = micros(start), micros(end)
    return [f"the change log of {table} has a gap from {iso_text(g.start_us)} to "
            f"{iso_text(g.end_us)} ({g.reason}): as_of inside it is not exact"
            + ("" if g.reason.startswith("table re-created") else
               "; an incremental export covering it (windows may overlap) fills it")
            for g in coverage(lake, table).gaps
            if g.start_us <= last + 1 and g.end_us >= first - 1]
