"""Identifiers: fixed-width text built with NumPy straight into Arrow buffers.

Building id columns with `pyarrow.compute.take` on string arrays costs about as
much as generating the events, so ids are kept as fixed-width byte matrices and
gathered row-wise, then wrapped as Arrow strings without copying.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

ACCOUNT_PREFIX, CONTACT_PREFIX, SUBSCRIPTION_PREFIX = "acc_", "con_", "sub_"
ACCOUNT_WIDTH, CONTACT_WIDTH = 8, 10
# Byte -> its two hex digits, as one little-endian uint16.
_HEX2 = np.array([ord(f"{b:02x}"[0]) | (ord(f"{b:02x}"[1]) << 8) for b in range(256)], dtype=np.uint16)
_DEC2 = np.array([ord(f"{b:02d}"[0]) | (ord(f"{b:02d}"[1]) << 8) for b in range(100)], dtype=np.uint16)


def _from_matrix(buf: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_] | None = None) -> pa.StringArray:
    n, width = buf.shape
    data = pa.py_buffer(np.ascontiguousarray(buf))
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if valid is None else int(n - np.count_nonzero(valid))
    if n * width < 2**31 - 1:
        offsets32 = np.arange(n + 1, dtype=np.int32) * np.int32(width)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets32), data, bitmap, nulls)
    offsets = np.arange(n + 1, dtype=np.int64) * width
    large = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), data, bitmap, nulls)
    return large.cast(pa.string())


class FixedText:
    """Fixed-width ASCII strings (one row per entity) that can be gathered fast."""

    def __init__(self, matrix: npt.NDArray[np.uint8]) -> None:
        self.matrix = matrix

    @classmethod
    def decimal(cls, prefix: str, values: npt.NDArray[np.int64], width: int) -> FixedText:
        """prefix + zero-padded decimal, e.g. acc_00000042 (width must be even)."""
        head = np.frombuffer(prefix.encode(), dtype=np.uint8)
        pairs = np.empty((values.size, (width + 1) // 2), dtype=np.uint16)
        v = values.astype(np.int64).copy()
        for i in range(pairs.shape[1] - 1, -1, -1):
            pairs[:, i] = _DEC2[v % 100]
            v //= 100
        digits = pairs.view(np.uint8).reshape(values.size, -1)[:, -width:]
        out = np.empty((values.size, head.size + width), dtype=np.uint8)
        out[:, : head.size] = head
        out[:, head.size:] = digits
        return cls(out)

    def take(self, idx: npt.NDArray[np.int64]) -> pa.StringArray:
        """Rows idx as an Arrow string array; null where idx < 0."""
        if idx.size and idx.min() < 0:
            valid = idx >= 0
            return _from_matrix(self.matrix[np.where(valid, idx, 0)], valid)
        return _from_matrix(self.matrix[idx])

    def all(self) -> pa.StringArray:
        return _from_matrix(self.matrix)


def hex_ids(prefix: str, keys: npt.NDArray[np.uint64]) -> pa.StringArray:
    """prefix + 16 hex digits of a 64-bit key (most significant first)."""
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    big_endian = keys.astype(">u8").view(np.uint8).reshape(keys.size, 8)
    digits = _HEX2[big_endian].view(np.uint8).reshape(keys.size, 16)
    if not prefix:
        return _from_matrix(digits)
    out = np.empty((keys.size, head.size + 16), dtype=np.uint8)
    out[:, : head.size] = head
    out[:, head.size:] = digits
    return _from_matrix(out)


def decimal_ids(prefix: str, values: npt.NDArray[np.int64], width: int) -> pa.StringArray:
    """prefix + zero-padded decimal as an Arrow array."""
    return FixedText.decimal(prefix, values, width).all()


def account_id(i: int) -> str:
    return f"{ACCOUNT_PREFIX}{i:0{ACCOUNT_WIDTH}d}"


def contact_id(i: int) -> str:
    return f"{CONTACT_PREFIX}{i:0{CONTACT_WIDTH}d}"


def _index(text: str, prefix: str, size: int, what: str) -> int:
    digits = text[len(prefix):] if text.startswith(prefix) else ""
    if not digits.isdigit() or int(digits) >= size:
        raise KeyError(f"unknown {what} id {text!r}")
    return int(digits)


def account_index(text: str, size: int) -> int:
    """Index of an account id; KeyError if it is not one of this world's."""
    return _index(text, ACCOUNT_PREFIX, size, "account")


def contact_index(text: str, size: int) -> int:
    """Index of a contact slot id; KeyError if it is not one of this world's."""
    return _index(text, CONTACT_PREFIX, size, "contact")
