"""Formatting Python values as exact C99 literals."""
from __future__ import annotations

import math

import numpy as np

CTYPES = {"float32": "float", "float16": "uint16_t", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t",
          "uint16": "uint16_t", "int32": "int32_t", "uint32": "uint32_t", "int64": "int64_t",
          "uint64": "uint64_t", "bool": "uint8_t", "bitpacked": "int32_t"}


def c_float(x: float) -> str:
    """An exact float32 literal (hex float), or HUGE_VALF for infinities."""
    x = float(np.float32(x))
    if math.isinf(x):
        return "HUGE_VALF" if x > 0 else "-HUGE_VALF"
    if math.isnan(x):
        return "NAN"
    return f"{x.hex()}f"


def c_int(x: int, ctype: str = "int32_t") -> str:
    x = int(x)
    if ctype == "int64_t":
        return f"INT64_C({x})" if x != -(1 << 63) else "INT64_MIN"
    if ctype == "int32_t" and x == -(1 << 31):
        return "INT32_MIN"
    if ctype in ("uint32_t", "uint64_t"):
        return f"{x}u"
    return str(x)


def c_array_body(values: np.ndarray, ctype: str, per_line: int = 24) -> str:
    """Comma-separated initializer of a flat array, a fixed number of values per line."""
    flat = np.asarray(values).ravel()
    if ctype == "float":
        items = [c_float(v) for v in flat.tolist()]
    elif ctype in ("int64_t", "uint32_t", "uint64_t") or (ctype == "int32_t" and flat.size and flat.min() == -(1 << 31)):
        items = [c_int(v, ctype) for v in flat.tolist()]
    else:
        items = [str(v) for v in flat.astype(np.int64).tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n  ".join(lines)
