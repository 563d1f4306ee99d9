"""Capture: parallel segmented Scan -> Parquet snapshots (and native exports).

The package's names are imported on first use, so that ``import exporter.config`` stays
light: the command line starts the workers' fork server before it imports the rest.
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
