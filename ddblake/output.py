"""Data to stdout in the format the user picks; everything else to stderr.

``output_options`` adds ``--format`` and ``--output`` to a command; ``render`` streams rows
(a pyarrow Table or RecordBatchReader, or dicts) in that format.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click
import orjson

if TYPE_CHECKING:
    import pyarrow as pa

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "csv", "json", "ndjson")


def output_options(*, formats: Sequence[str] = FORMATS, default: str = "table") -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        fn = click.option("--output", "-o", "output", type=click.Path(dir_okay=False),
                          default=None, help="Write to FILE instead of stdout.")(fn)
        fn = click.option("--format", "fmt", type=click.Choice(list(formats)), default=default,
                          show_default=True, help="Output format.")(fn)
        return fn
    return decorate


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot render {type(value).__name__}")


def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal | int | float | bool):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return json_bytes(value).decode("utf-8")


def _batches(data: Any) -> Iterable[pa.RecordBatch]:
    import pyarrow as pa  # here: the CLI starts without it (see ddblake.cli)

    if isinstance(data, pa.Table):
        yield from data.to_batches(max_chunksize=10_000)
    elif isinstance(data, pa.RecordBatchReader):
        yield from data
    else:
        rows = list(data)
        if rows:
            yield pa.RecordBatch.from_pylist(rows)


def _names(data: Any) -> list[str]:
    import pyarrow as pa

    if isinstance(data, pa.Table | pa.RecordBatchReader):
        return list(data.schema.names)
    return []


def render(data: Any, fmt: str, out: IO[str] | None = None, *, columns: Sequence[str] = ()) -> int:
    """Stream ``data`` to ``out`` (stdout by default); return the number of rows written."""
    out = out or sys.stdout
    rows = 0
    if fmt == "table":
        records: list[dict[str, Any]] = []
        names = list(columns) or _names(data)
        for batch in _batches(data):
            records.extend(batch.to_pylist())
            names = names or list(batch.schema.names)
        rows = len(records)
        _table(records, names, out)
        return rows
    if fmt == "csv":
        writer: Any = None
        for batch in _batches(data):
            if writer is None:
                writer = csv.writer(out)
                writer.writerow(batch.schema.names)
            for record in batch.to_pylist():
                writer.writerow([_cell(v) for v in record.values()])
                rows += 1
        if writer is None and (columns or _names(data)):
            csv.writer(out).writerow(list(columns) or _names(data))
        return rows
    if fmt == "ndjson":
        for batch in _batches(data):
            for record in batch.to_pylist():
                out.write(json_bytes(record).decode("utf-8") + "\n")
                rows += 1
        return rows
    out.write("[")
    for batch in _batches(data):
        for record in batch.to_pylist():
            out.write(("," if rows else "") + "\n  " + json_bytes(record).decode("utf-8"))
            rows += 1
    out.write("\n]\n" if rows else "]\n")
    return rows


def _table(records: list[dict[str, Any]], names: list[str], out: IO[str]) -> None:
    cells = [[_cell(r.get(n)) for n in names] for r in records]
    widths = [max([len(n)] + [min(len(c[i]), 60) for c in cells]) for i, n in enumerate(names)]

    def line(values: list[str]) -> str:
        return "  ".join((v if len(v) <= 60 else v[:57] + "...").ljust(w)
                         for v, w in zip(values, widths, strict=True)).rstrip()

    if names:
        out.write(line(names) + "\n")
        out.write(line(["-" * w for w in widths]) + "\n")
    for c in cells:
        out.write(line(c) + "\n")


def open_output(path: str | None) -> IO[str]:
    return open(path, "w", encoding="utf-8", newline="") if path else sys.stdout


def render_to(data: Any, fmt: str, path: str | None, *, columns: Sequence[str] = ()) -> int:
    if path is None:
        return render(data, fmt, sys.stdout, columns=columns)
    with open_output(path) as f:
        return render(data, fmt, f, columns=columns)


def summary(value: dict[str, Any], fmt: str) -> None:
    """A command's closing summary: JSON on stdout for --format json, else text on stderr."""
    if fmt == "json":
        sys.stdout.write(json_bytes(value).decode("utf-8") + "\n")
        return
    buf = io.StringIO()
    for key, item in value.items():
        buf.write(f"{key}: {_cell(item)}\n")
    click.echo(buf.getvalue().rstrip("\n"), err=True)
