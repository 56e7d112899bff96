"""Output size and implicit padding of windowed ops (conv, depthwise, pool), as TFLite
computes them (``ComputePaddingHeightWidth``): SAME puts the odd extra row/column after."""
from __future__ import annotations


def out_size(padding: str, in_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    effective = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size + stride - effective) // stride


def pad_before(padding: str, in_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    """Rows (or columns) of implicit padding before the first input element."""
    effective = (filter_size - 1) * dilation + 1
    out = out_size(padding, in_size, filter_size, stride, dilation)
    total = max((out - 1) * stride + effective - in_size, 0)
    return total // 2
