"""Canonical JSON texts of values kept back to back in one buffer: a part's ``json`` cells
and its ``_rest``.

Each value is serialized when it is added (``orjson.dumps`` with sorted keys) and only its
bytes are kept, so the builder holds no Python object per value. Holding the values and
serializing a few hundred per orjson call was cheaper per call, but cost more where it
counts: the values of every held item stayed alive until their batch was written, and a
reader parsing the next items got colder memory (bench/codec_bench and the native export
converter's loop measured the builder 2.5-3 µs an item slower that way).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa

_SORT = orjson.OPT_SORT_KEYS


class TextColumn:
    """Canonical texts, back to back in ``data``, with each one's length."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.lengths: list[int] = []

    def add(self, value: Any) -> None:
        text = orjson.dumps(value, option=_SORT)
        self.data += text
        self.lengths.append(len(text))

    def extend(self, values: list[Any]) -> None:
        for value in values:
            self.add(value)

    def texts(self) -> list[bytes]:
        ends = np.cumsum(self.lengths).tolist()
        return [bytes(self.data[end - size:end]) for end, size in zip(ends, self.lengths,
                                                                      strict=True)]

    def array(self) -> pa.Array:
        """The texts as one string array over a copy of the buffer (orjson writes valid
        UTF-8: nothing to check)."""
        if len(self.data) >= 1 << 31:
            return pa.array(self.texts(), pa.large_string())
        bounds = np.zeros(len(self.lengths) + 1, dtype=np.int32)
        np.cumsum(self.lengths, out=bounds[1:])
        return pa.StringArray.from_buffers(len(self.lengths), pa.py_buffer(bounds),
                                           pa.py_buffer(bytes(self.data)))


__all__ = ["TextColumn"]
