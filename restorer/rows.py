"""Spooled unit batches -> what the batch writer sends, without parsing clean items.

A row that :func:`restorer.precheck.clean_rows` proves valid becomes a ready
:class:`restorer.writer.Entry` (its text, as the lake stores it, is the wire form a
BatchWriteItem carries: decision 001; its key comes from the spooled key columns). Every
other row is handed over as its text, and the writer parses and validates it in full
(``schemas.limits.validate_item``), so invalid items still become dead letters before any
write. Also handed over as text, for the writer's own rules: rows whose TTL has passed
when expired items are skipped (the writer counts them), and every row when a WCU budget
needs each item's exact size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from restorer.precheck import clean_rows
from restorer.writer import Entry
from schemas.keys import KeyAttribute, KeySchema

TTL = "_ttl"


def _key_texts(values: pa.Array, attr: KeyAttribute) -> list[str | None]:
    """Key values as :func:`restorer.writer.key_tuple` spells them (N already normalized)."""
    if attr.type == "N":
        return values.to_pylist()  # type: ignore[no-any-return]
    prefixed = pc.binary_join_element_wise(pa.scalar(f"{attr.type}:"), values, "")
    return prefixed.to_pylist()  # type: ignore[no-any-return]


def batch_rows(batch: pa.RecordBatch, keys: KeySchema, *, ttl: tuple[str, float] | None = None,
               need_size: bool = False) -> Iterator[bytes | Entry]:
    """The rows of one spooled batch: an Entry for each clean row, else the text.
    ``ttl`` (attribute, now; the batch has a ``_ttl`` column) hands expired rows over as
    text; ``need_size`` hands every row over as text."""
    texts = batch.column(0)
    raw: list[bytes] = texts.cast(pa.binary()).to_pylist()
    if need_size or not batch.num_rows:
        yield from raw
        return
    columns = [batch.column(f"_k{i}") for i in range(len(keys.attributes))]
    clean = clean_rows(texts, columns, keys, unique=(ttl[0],) if ttl else ()).tolist()
    key_lists = [_key_texts(c, a) for c, a in zip(columns, keys.attributes, strict=True)]
    now = ttl[1] if ttl else 0.0
    ttls: list[str | None] = batch.column(TTL).to_pylist() if ttl else [None] * len(raw)
    for text, ok, expires, *key in zip(raw, clean, ttls, *key_lists, strict=True):
        # a clean row's N texts are plain decimals: float() cannot fail
        if not ok or (expires is not None and float(expires) < now):
            yield text
        else:
            yield Entry(text, tuple(key), 0)


def unit_rows(batches: Iterable[pa.RecordBatch], keys: KeySchema, *,
              ttl: tuple[str, float] | None = None,
              need_size: bool = False) -> Iterator[bytes | Entry]:
    for batch in batches:
        yield from batch_rows(batch, keys, ttl=ttl, need_size=need_size)
