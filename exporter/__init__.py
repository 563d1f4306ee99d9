"""Capture: parallel segmented Scan -> Parquet snapshots (and, later, native exports)."""

from exporter.config import ExportConfig, ExportResult
from exporter.scan_export import export_table

__all__ = ["ExportConfig", "ExportResult", "export_table"]
