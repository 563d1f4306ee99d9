"""Canonical JSON texts made in batches: one orjson call serializes many values.

Serializing items one call at a time costs more than the serialization itself (each call
allocates and grows its own output buffer); one call over a list of a few hundred values is
three to four times cheaper per value. The values of a batch are serialized as one JSON
array with a raw newline between them (an ``orjson.Fragment``): orjson escapes every control
character inside strings and writes no whitespace, so a raw newline can only be one of these
separators, and ``,\\n,`` splits the array exactly into the values' own texts — the same bytes
``orjson.dumps(value, option=OPT_SORT_KEYS)`` gives for each (its output for a list is the
outputs for its members joined by commas). If the separators are not found once per gap
(never seen; orjson does not check fragments), the batch is serialized one value at a time.

A :class:`TextColumn` keeps the texts as newline-joined chunks: the newline-delimited input
of pyarrow's JSON reader as it is, and an Arrow string array (no Python object per text).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pyarrow as pa

_SORT = orjson.OPT_SORT_KEYS
_NEWLINE = orjson.Fragment(b"\n")
_GAP = b",\n,"


def serialize_batch(values: list[Any]) -> tuple[bytes, np.ndarray]:
    """The canonical texts of ``values`` joined by newlines, and each text's length."""
    if len(values) == 1:
        text = memoryview(orjson.dumps(values[0], option=_SORT)).tobytes()
        return text, np.array([len(text)], dtype=np.int64)
    spaced: list[Any] = [_NEWLINE] * (2 * len(values) - 1)
    spaced[::2] = values
    data = orjson.dumps(spaced, option=_SORT).replace(_GAP, b"\n")[1:-1]
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    if len(ends) != len(values) - 1:  # defensive: orjson did not keep the separators
        texts = [orjson.dumps(v, option=_SORT) for v in values]
        return b"\n".join(texts), np.array([len(t) for t in texts], dtype=np.int64)
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(data)]))
    return data, stops - starts


def bounds(lengths: np.ndarray) -> tuple[list[int], list[int]]:
    """Start and stop offsets of newline-joined texts of these lengths."""
    stops = np.cumsum(lengths + 1) - 1
    return (stops - lengths).tolist(), stops.tolist()


class TextColumn:
    """Texts appended in batches (newline-joined chunks and their lengths)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.lengths: list[np.ndarray] = []
        self.count = 0
        self.size = 0

    def __len__(self) -> int:
        return self.count

    def append(self, data: bytes, lengths: np.ndarray) -> None:
        self.chunks.append(data)
        self.lengths.append(lengths)
        self.count += len(lengths)
        self.size += len(data) - len(lengths) + 1

    def extend(self, values: list[Any]) -> tuple[bytes, np.ndarray]:
        data, lengths = serialize_batch(values)
        self.append(data, lengths)
        return data, lengths

    def ndjson(self) -> bytes:
        """The texts joined by newlines (pyarrow's JSON reader's input)."""
        return b"\n".join(self.chunks)

    def texts(self) -> list[bytes]:
        return self.ndjson().split(b"\n") if self.count else []

    def array(self) -> pa.Array:
        """The texts as one string array (orjson writes valid UTF-8: nothing to check)."""
        if not self.count:
            return pa.array([], pa.string())
        lengths = np.concatenate(self.lengths)
        if self.size >= 1 << 31:
            return pa.array(self.texts(), pa.large_string())
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        values = b"".join(self.chunks).replace(b"\n", b"")
        return pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets),
                                           pa.py_buffer(values))

    def longest(self) -> int:
        return max((int(x.max()) for x in self.lengths if len(x)), default=0)


__all__ = ["TextColumn", "bounds", "serialize_batch"]
