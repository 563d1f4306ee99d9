"""Tiny units for startup.py: one Arrow conversion of Python objects each (the first one in
a process imports pandas unless the fork server did it: runtime.arrow_warmup)."""

from __future__ import annotations

from typing import Any


def first_conversion(n: int) -> int:
    import pyarrow as pa

    return len(pa.array([{"n": n}]).to_pylist())


def first_conversion_kit(n: int, kit: Any) -> int:
    return first_conversion(n)
