"""Byte-level work over whole Arrow string, binary and decimal arrays, vectorised with numpy.

The format 2 codec renders and parses every cell of a part; doing it one Python value at a
time would cost more than the rest of the codec. These helpers work on an array's buffers
at once: base64 both ways (one ``binascii`` call over all the values, each padded to a
whole base64 group), the text of integral decimals (through int64), and finding a byte in
all the values. Each returns what its per-value equivalent returns, value for value; the
format 2 writer proves every row it writes with the decoder built on them, and the tests
compare them with the per-value functions on generated values.
"""

from __future__ import annotations

import binascii
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_PAD, _ZERO_DIGIT = ord("="), ord("A")  # base64's "A" is six zero bits
_INT32_LIMIT = 1 << 31


def offsets(array: pa.Array) -> np.ndarray:
    """The ``len(array) + 1`` value offsets of a string or binary array (int64)."""
    width = np.int64 if array.type in (pa.large_string(), pa.large_binary()) else np.int32
    raw = np.frombuffer(array.buffers()[1], dtype=width)
    return raw[array.offset:array.offset + len(array) + 1].astype(np.int64)


def data(array: pa.Array) -> np.ndarray:
    """The data buffer of a string or binary array, as bytes (uint8, read-only)."""
    buffer = array.buffers()[2]
    return np.frombuffer(buffer, dtype=np.uint8) if buffer is not None else np.zeros(0, np.uint8)


def value_bytes(array: pa.Array) -> np.ndarray:
    """The bytes of every value of a string or binary array, back to back."""
    bounds = offsets(array)
    return data(array)[bounds[0]:bounds[-1]]


def lengths(array: pa.Array) -> np.ndarray:
    """Each value's length in bytes; 0 for a null."""
    sizes = np.diff(offsets(array))
    if array.null_count:
        sizes[_nulls(array)] = 0
    return sizes


def _nulls(array: pa.Array) -> np.ndarray:
    return np.asarray(array.is_null(), dtype=bool)


def _validity(array: pa.Array) -> pa.Buffer | None:
    """A fresh validity bitmap of ``array`` (offset 0), or None when it has no null."""
    return pc.is_valid(array).buffers()[1] if array.null_count else None


def has_byte(array: pa.Array, *wanted: int) -> bool:
    """Whether any value of a string or binary array holds any of these bytes."""
    values = value_bytes(array)
    return any(bool((values == b).any()) for b in wanted)


def gather(array: pa.Array, sizes: np.ndarray, padded: np.ndarray) -> np.ndarray:
    """The values' bytes (``sizes`` of each, from its start) copied into slots of ``padded``
    bytes each, back to back, zero-filled (``padded`` is 0 where ``sizes`` is)."""
    bounds = offsets(array)
    total = int(sizes.sum())
    filled = sizes > 0
    if total and (np.diff(bounds) == sizes).all():  # back to back: no gap, no null bytes
        width, slot = sizes[filled], padded[filled]
        if (width == width[0]).all() and (slot == slot[0]).all():  # one size: a reshape
            grid = np.zeros((len(width), int(slot[0])), dtype=np.uint8)
            grid[:, :width[0]] = data(array)[bounds[0]:bounds[0] + total].reshape(-1, width[0])
            return grid.reshape(-1)
    starts = bounds[:-1]
    out = np.zeros(int(padded.sum()), dtype=np.uint8)
    if not total:
        return out
    owner = np.repeat(np.arange(len(sizes)), sizes)
    within = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    out[(np.cumsum(padded) - padded)[owner] + within] = data(array)[starts[owner] + within]
    return out


def _string_array(n: int, ends: np.ndarray, values: np.ndarray,
                  validity: pa.Buffer | None, arrow_type: pa.DataType) -> pa.Array:
    bounds = np.zeros(n + 1, dtype=np.int32)
    bounds[1:] = ends
    return pa.Array.from_buffers(arrow_type, n, [validity, pa.py_buffer(bounds),
                                                 pa.py_buffer(values)])


def base64_encode(values: pa.Array) -> pa.Array:
    """Each binary value's standard base64 with padding (DynamoDB's wire form of B), as a
    string array; null where null. One ``binascii`` call encodes every value: each is
    zero-padded to a multiple of 3 bytes, so the encoding of the whole is the encodings of
    the values back to back, and a value's last 1 or 2 characters then become ``=``."""
    sizes = lengths(values)
    padded = (sizes + 2) // 3 * 3
    out_sizes = padded // 3 * 4
    if int(out_sizes.sum()) >= _INT32_LIMIT:
        return pa.array([None if v is None else binascii.b2a_base64(v, newline=False).decode()
                         for v in values.to_pylist()], pa.string())
    encoded = binascii.b2a_base64(gather(values, sizes, padded).tobytes(), newline=False)
    text = np.frombuffer(encoded, dtype=np.uint8).copy()
    ends = np.cumsum(out_sizes)
    short = padded - sizes  # 0, 1 or 2 padding bytes
    text[ends[short >= 1] - 1] = _PAD
    text[ends[short == 2] - 2] = _PAD
    return _string_array(len(values), ends, text, _validity(values), pa.string())


def base64_decode(texts: pa.Array) -> pa.Array:
    """Canonical base64 texts (standard alphabet, padded, unused bits zero: check first) ->
    the binary values; null where null. One ``binascii`` call decodes every text: each is a
    whole number of 4-character groups, so with its padding read as zero bits the whole
    decodes to the values back to back, each followed by one zero byte per ``=``."""
    sizes = lengths(texts)
    if (sizes % 4).any():
        raise ValueError("a base64 text is not a whole number of 4-character groups")
    joined = gather(texts, sizes, sizes)
    pads = np.zeros(len(sizes), dtype=np.int64)
    if len(joined):
        ends = np.cumsum(sizes)
        filled = sizes > 0  # then at least 4 characters
        last = filled & (joined[np.where(filled, ends - 1, 0)] == _PAD)
        pads += last
        pads += last & (joined[np.where(filled, ends - 2, 0)] == _PAD)
    joined[joined == _PAD] = _ZERO_DIGIT
    raw = np.frombuffer(binascii.a2b_base64(joined.tobytes()), dtype=np.uint8)
    slots = sizes // 4 * 3
    wanted = slots - pads
    owner = np.repeat(np.arange(len(sizes)), wanted)
    within = np.arange(int(wanted.sum())) - np.repeat(np.cumsum(wanted) - wanted, wanted)
    values = raw[(np.cumsum(slots) - slots)[owner] + within]
    return _string_array(len(texts), np.cumsum(wanted), values, _validity(texts), pa.binary())


def integral_texts(numbers: pa.Array) -> pa.Array | None:
    """The texts of a decimal128 array whose values are all integers within int64 (counters,
    timestamps): ``46``, ``-3``, ``0``, through int64 (one cast instead of the decimal
    cast and two trims). None when a value is not such an integer."""
    scale = numbers.type.scale
    if (sys.byteorder != "little" or not pa.types.is_decimal128(numbers.type)
            or not 0 <= scale <= 18 or not len(numbers)):
        return None
    words = np.frombuffer(numbers.buffers()[1], dtype=np.int64)
    words = words[2 * numbers.offset:2 * (numbers.offset + len(numbers))].reshape(-1, 2)
    low, high = words[:, 0], words[:, 1]
    valid = ~_nulls(numbers) if numbers.null_count else slice(None)
    whole, fraction = np.divmod(low, 10 ** scale)
    if (high[valid] != low[valid] >> 63).any() or fraction[valid].any():
        return None
    mask = None if numbers.null_count == 0 else _nulls(numbers)
    return pc.cast(pa.array(whole, pa.int64(), mask=mask), pa.string())


__all__ = ["base64_decode", "base64_encode", "data", "gather", "has_byte", "integral_texts",
           "lengths", "offsets", "value_bytes"]
