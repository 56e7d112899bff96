"""Element types of IR tensors and their NumPy storage types."""
from __future__ import annotations

import enum

import numpy as np


class DType(enum.Enum):
    """Element type of a tensor.

    ``BITPACKED`` tensors hold 32 binary channels per int32 word along the last axis
    (bit ``c % 32`` of word ``c // 32``; a 0 bit is +1, a 1 bit is -1), as in Larq Compute Engine.
    """

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    INT8 = "int8"
    UINT8 = "uint8"
    INT16 = "int16"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    INT32 = "int32"
    INT64 = "int64"
    BOOL = "bool"
    BITPACKED = "bitpacked"

    @property
    def numpy(self) -> np.dtype:
        """The NumPy dtype used to store elements of this type."""
        return np.dtype(_NUMPY[self])

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    @property
    def is_quantized_int(self) -> bool:
        return self in (DType.INT8, DType.UINT8, DType.INT16)

    @classmethod
    def from_numpy(cls, dt: np.dtype) -> "DType":
        dt = np.dtype(dt)
        for member, name in _NUMPY.items():
            if member is not DType.BITPACKED and np.dtype(name) == dt:
                return member
        raise ValueError(f"no picoml dtype for numpy dtype {dt}")


_NUMPY = {
    DType.FLOAT32: "float32",
    DType.FLOAT16: "float16",
    DType.INT8: "int8",
    DType.UINT8: "uint8",
    DType.INT16: "int16",
    DType.UINT16: "uint16",
    DType.UINT32: "uint32",
    DType.UINT64: "uint64",
    DType.INT32: "int32",
    DType.INT64: "int64",
    DType.BOOL: "bool",
    DType.BITPACKED: "int32",
}
