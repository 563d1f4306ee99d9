"""Small, safe pieces of DuckDB SQL text: quoting, literals, and typed-column expressions.

Typed columns follow the manifest's reconciled column decisions
(:func:`schemas.projection.reconcile`): a column the manifest types is read from the parts
and cast to the reconciled type (parts may disagree, e.g. int64 in one, decimal in another);
a column the manifest leaves spine-only is never selected (``Name``/``name`` collisions,
mixed types). Images that come from change records have no typed columns, so the same
columns are extracted from their JSON, numbers as exact text first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from schemas.projection import ColumnDecision

_ARROW_TO_DUCK = {
    "string": "VARCHAR",
    "bool": "BOOLEAN",
    "binary": "BLOB",
    "int64": "BIGINT",
    "list<item: string>": "VARCHAR[]",
    "list<item: binary>": "BLOB[]",
}


def ident(name: str) -> str:
    """A double-quoted DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A single-quoted DuckDB string literal."""
    return "'" + text.replace("'", "''") + "'"


def list_literal(items: Iterable[str]) -> str:
    return "[" + ", ".join(literal(i) for i in items) + "]"


def read_parquet(paths: Sequence[str], *, filename: bool = False) -> str:
    """``read_parquet`` over ``paths``, always ``union_by_name``."""
    extra = ", filename=true" if filename else ""
    return f"read_parquet({list_literal(paths)}, union_by_name=true{extra})"


def duck_type(decision: ColumnDecision) -> str | None:
    """The DuckDB type of a typed column, or None when it stays in the spine."""
    if decision.type is None:
        return None
    if decision.type.startswith("decimal128(38, "):
        scale = int(decision.type[len("decimal128(38, "):-1])
        return f"DECIMAL(38, {scale})"
    return _ARROW_TO_DUCK.get(decision.type)


def typed_columns(columns: Iterable[ColumnDecision]) -> list[tuple[str, str]]:
    """(name, DuckDB type) of every column the manifest types, in manifest order."""
    return [(c.name, t) for c in columns if (t := duck_type(c)) is not None]


def cast_column(name: str, duck: str) -> str:
    """A part column cast to its reconciled type."""
    return f"CAST({ident(name)} AS {duck}) AS {ident(name)}"


def _path(name: str, tag: str) -> str:
    return literal(f'$."{_json_key(name)}".{tag}')


def _json_key(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def json_column(image: str, name: str, duck: str) -> str:
    """The typed column ``name`` extracted from a JSON image (wire form: N as text,
    B as base64). A value of another DynamoDB type gives NULL (it stays in the spine)."""
    if duck == "VARCHAR":
        expr = f"json_extract_string({image}, {_path(name, 'S')})"
    elif duck == "BOOLEAN":
        expr = f"CAST(json_extract({image}, {_path(name, 'BOOL')}) AS BOOLEAN)"
    elif duck == "BLOB":
        expr = f"from_base64(json_extract_string({image}, {_path(name, 'B')}))"
    elif duck == "VARCHAR[]":
        expr = (f"coalesce(CAST(json_extract({image}, {_path(name, 'SS')}) AS VARCHAR[]), "
                f"CAST(json_extract({image}, {_path(name, 'NS')}) AS VARCHAR[]))")
    elif duck == "BLOB[]":
        expr = (f"list_transform(CAST(json_extract({image}, {_path(name, 'BS')}) AS VARCHAR[]),"
                f" lambda x: from_base64(x))")
    else:  # BIGINT, DECIMAL(38, s): from exact text, NULL when out of range
        expr = f"TRY_CAST(json_extract_string({image}, {_path(name, 'N')}) AS {duck})"
    return f"{expr} AS {ident(name)}"


def to_us(ts: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso_to_us(text: str) -> int:
    return to_us(datetime.fromisoformat(text.replace("Z", "+00:00")))


def us_to_iso(us: int) -> str:
    seconds, micros = divmod(us, 1_000_000)
    when = datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str, *, what: str = "time") -> datetime:
    """ISO 8601 (``2026-11-17T14:00:00Z``, ``2026-11-17 14:00``, a date); naive means UTC."""
    from schemas.errors import UsageError

    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as e:
        raise UsageError(f"{what}: {text!r} is not a time",
                         hint="write ISO 8601, e.g. 2026-11-17T14:00:00Z (UTC when no "
                              "offset is given)") from e
    return when if when.tzinfo else when.replace(tzinfo=UTC)
