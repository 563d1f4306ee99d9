"""Where to damage a Parquet part: named byte offsets inside its structures (magic, page
headers, data pages of the item's column, dictionary pages, the footer and its length).

The item's column is ``_item`` in a format 1 part; in a format 2 part (no ``_item``), the
attribute column with the most bytes. The row hash column is ``_item_sha256`` (format 1) or
``_item_hash`` (format 2).

``item-data-page`` is the middle of that column's first data page *with its header*: in small
parts that is the header's min/max statistics, which readers do not use (the decoded rows do
not change, only the part's sha256 does); ``item-data-page-end`` is inside the page data."""

from __future__ import annotations

import io
from typing import Any

import pyarrow.parquet as pq

from lake.fileio import FileIO

# (name, how to find the offset in the part's bytes); the names are test ids.
POSITIONS = ("head-magic", "head-magic-last", "first-page-header", "item-data-page",
             "item-data-page-end", "sha-column-page", "dictionary-page", "before-footer",
             "footer-schema", "footer-middle", "footer-end", "footer-length", "tail-magic")


def _chunk(column: Any) -> tuple[int, int, int]:
    """(start, first data page, end) of one column chunk (its dictionary page comes first)."""
    start = column.dictionary_page_offset or column.data_page_offset
    return start, column.data_page_offset, start + column.total_compressed_size


SYSTEM = ("_item_hash", "_item_sha256", "_pk", "_sk")


def _item_column(columns: dict[str, Any]) -> Any:
    """``_item`` (format 1), else the biggest attribute column (format 2)."""
    if "_item" in columns:
        return columns["_item"]
    return max((c for name, c in columns.items() if name not in SYSTEM),
               key=lambda c: c.total_compressed_size)


def offset(data: bytes, where: str) -> int:
    """The byte offset of ``where`` (one of :data:`POSITIONS`) in the Parquet file ``data``."""
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    footer = int.from_bytes(data[-8:-4], "little")
    group = meta.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(meta.num_columns)}
    item_start, item_page, item_end = _chunk(_item_column(columns))
    _, sha_page, sha_end = _chunk(columns.get("_item_sha256") or columns["_item_hash"])
    dictionary = next(c for c in columns.values() if c.has_dictionary_page)
    table = {
        "head-magic": 0, "head-magic-last": 3,
        "first-page-header": item_start + 1,
        "item-data-page": (item_page + item_end) // 2,
        "item-data-page-end": item_end - 2,
        "sha-column-page": (sha_page + sha_end) // 2,
        "dictionary-page": dictionary.dictionary_page_offset + 3,
        "before-footer": len(data) - 8 - footer - 1,
        "footer-schema": len(data) - 8 - footer + 12,
        "footer-middle": len(data) - 8 - footer // 2,
        "footer-end": len(data) - 9,
        "footer-length": len(data) - 7,
        "tail-magic": len(data) - 1,
    }
    return int(table[where])


def flip(lake: FileIO, key: str, at: int, mask: int = 0x01) -> bytes:
    """Flip bits ``mask`` of the byte at ``at`` (from the end when negative) of the stored
    object ``key`` (its size stays the same); return the original bytes."""
    original = lake.read(key)
    data = bytearray(original)
    data[at] ^= mask
    lake.write(key, bytes(data))
    return original
