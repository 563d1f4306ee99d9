"""Convert an export that already sits in a bucket (or a local copy of one) into the lake.

A full export becomes a snapshot (and a new baseline for the incremental chain); an
incremental export becomes change batches appended to the chain. Native exports carry no
key schema: it is taken from ``keys`` when given, else from the lake's own snapshots of the
table, else from DescribeTable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from exporter import export_chain
from exporter.export_reader import Export, ExportInfo, open_export
from exporter.incremental import convert_incremental
from exporter.native import WORKER_MODULES, ConvertConfig, convert_full
from lake import catalog, layout
from lake.fileio import FileIO
from lake.progress import NullListener, ProgressListener
from runtime.processes import prestart
from schemas.errors import DdbLakeError, UsageError
from schemas.keys import KeySchema


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

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": self.table, "export_id": self.export_id,
                "export_arn": self.export_arn, "items": self.items,
                "gzip_bytes": self.gzip_bytes, "seconds": round(self.seconds, 3),
                "created": self.created, "snapshot_id": self.snapshot_id,
                "batches": len(self.batches), "chain_end": self.chain_end}


def minimal_description(table: str, keys: KeySchema, info: ExportInfo) -> dict[str, Any]:
    schema = [{"AttributeName": keys.partition.name, "KeyType": "HASH"}]
    if keys.sort:
        schema.append({"AttributeName": keys.sort.name, "KeyType": "RANGE"})
    return {"TableName": table, "TableArn": info.table_arn, "KeySchema": schema,
            "AttributeDefinitions": [{"AttributeName": a.name, "AttributeType": a.type}
                                     for a in keys.attributes],
            "BillingMode": "PAY_PER_REQUEST", "unavailable": "from the export only"}


def table_context(lake: FileIO, table: str, info: ExportInfo, *, keys: KeySchema | None,
                  ddb: Any = None) -> tuple[KeySchema, dict[str, Any]]:
    """The key schema and rebuildable description for ``table``."""
    ids = catalog.snapshot_ids(lake, table)
    if ids:
        manifest = catalog.load_manifest(lake, table, ids[-1])
        if keys is None or keys == manifest.key_schema:
            return manifest.key_schema, manifest.table_description
    if ddb is not None:
        from exporter.describe import describe_table

        try:
            description = describe_table(ddb, table)
            found = KeySchema.from_description(description)
            if keys is None or keys == found:
                return found, description
        except DdbLakeError:
            pass
    if keys is None:
        raise UsageError(f"the key schema of {table} is unknown: the export does not carry it, "
                         "the lake has no snapshot of it and DescribeTable is not available",
                         hint="pass --partition-key NAME:TYPE (and --sort-key NAME:TYPE), "
                              "types S, N or B")
    return keys, minimal_description(table, keys, info)


def import_export(uri: str, lake: FileIO, *, table: str | None = None,
                  keys: KeySchema | None = None, ddb: Any = None, session: Any = None,
                  s3_client: Any = None, config: ConvertConfig | None = None,
                  listener: ProgressListener | None = None) -> ImportResult:
    """Verify and convert the export at ``uri`` into ``lake``."""
    listener = listener or NullListener()
    config = config or ConvertConfig()
    source, export = open_export(uri, session=session, s3_client=s3_client)
    if config.engine == "local" and min(config.workers,
                                        sum(1 for f in export.files if f.item_count)) > 1:
        prestart(WORKER_MODULES)  # imports for the workers while the key schema is found
    name = layout.check_table_name(table or export.info.table_name)
    keys, description = table_context(lake, name, export.info, keys=keys, ddb=ddb)
    listener.message(f"export {export.info.export_id}: {export.info.export_type}, "
                     f"{export.info.item_count:,} items in {len(export.files)} files")
    return convert_export(export, source, lake, table=name, keys=keys,
                          description=description, config=config, listener=listener)


def convert_export(export: Export, source: FileIO, lake: FileIO, *, table: str,
                   keys: KeySchema, description: dict[str, Any],
                   config: ConvertConfig | None = None,
                   listener: ProgressListener | None = None) -> ImportResult:
    """Convert a located export (full -> snapshot, incremental -> changes + chain)."""
    started = time.monotonic()
    info = export.info
    chain = export_chain.load_chain(lake, table)
    if info.incremental:
        new_chain, _ = export_chain.extend(chain, table, info, info.item_count)
        outcome = convert_incremental(export, source, lake, keys=keys, table=table,
                                      config=config, listener=listener)
        export_chain.save_chain(lake, new_chain)
        return ImportResult("changes", table, info.export_id, info.export_arn, outcome.rows,
                            outcome.gzip_bytes, time.monotonic() - started,
                            outcome.created > 0, batches=tuple(outcome.batches),
                            chain_end=export_chain.iso(new_chain.end))
    manifest, created = convert_full(export, source, lake, keys=keys, table=table,
                                     table_description=description, config=config,
                                     listener=listener)
    at = info.export_time or info.start_time
    chain_end = chain.end if chain else None
    if at is not None and (chain is None or at > chain.end):
        chain = export_chain.new_baseline(table, info, manifest.snapshot_id)
        export_chain.save_chain(lake, chain)
        chain_end = chain.end
    gzip_bytes = int(manifest.extra.get("native_export", {}).get("gzip_bytes", 0))
    return ImportResult("snapshot", table, info.export_id, info.export_arn,
                        manifest.totals.items, gzip_bytes, time.monotonic() - started, created,
                        snapshot_id=manifest.snapshot_id,
                        chain_end=export_chain.iso(chain_end) if chain_end else None)
