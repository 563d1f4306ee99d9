"""Capture: parallel segmented Scan -> Parquet snapshots, native exports, streams.

The names below are imported on first use (PEP 562), so a worker process that only
converts native export files does not pay for the scan exporter's imports (boto3 among
them): about half a second of CPU per process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exporter.config import ExportConfig, ExportResult
    from exporter.scan_export import export_table

__all__ = ["ExportConfig", "ExportResult", "export_table"]


def __getattr__(name: str) -> Any:
    if name in ("ExportConfig", "ExportResult"):
        from exporter import config

        return getattr(config, name)
    if name == "export_table":
        from exporter.scan_export import export_table

        return export_table
    raise AttributeError(f"module 'exporter' has no attribute {name!r}")
