"""AVERAGE_POOL_2D and MAX_POOL_2D on NHWC tensors, bit-exact with TFLM's reference kernels.

A window tap that falls into the implicit SAME padding is skipped, not read as zero: the
average divides by the number of taps inside the input (``count``, fixed per output position
and computed in prepare). Per output::

    float:  avg = (sum of taps, added in float32 in row-major tap order) / float(count)
    int:    avg = round_half_away(int32 sum / count)        (TFLM: (sum +- count/2) / count)
    max:    the largest tap (float: std::max order, so a NaN tap never wins)

then the fused activation clamps. Quantized pooling requires the output to share the input's
scale (within 1e-6) and zero point, as TFLM does; no requantization happens.

MACs: AVERAGE counts one per window tap per output element (``filter_h * filter_w`` each,
padded taps included, so the figure depends only on the shapes). MAX counts 0: comparisons
are not multiply-accumulates.
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op
from picoml.kernels.elementwise import fused_activation, op_tensors, per_tensor_quant
from picoml.kernels.padding import out_size, pad_before
from picoml.kernels.quant import (activation_range, activation_range_float32, divide_round_half_away,
                                  wrap_int32)
from picoml.kernels.registry import Params, register

POOL_DTYPES = (DType.FLOAT32, DType.INT8, DType.INT16)


def positive_int_attr(op: Op, name: str) -> int:
    """An integer attr that must be >= 1 (strides, filter sizes)."""
    v = op.attrs.get(name)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise GraphError(f"{op.describe()}: attr {name}={v!r}; expected an integer >= 1")
    return int(v)


def padding_attr(op: Op) -> str:
    """The ``padding`` attr, "SAME" or "VALID"."""
    p = op.attrs.get("padding")
    if p not in ("SAME", "VALID"):
        raise GraphError(f"{op.describe()}: padding {p!r} is not supported; expected 'SAME' or 'VALID'")
    return str(p)


def _taps(n_out: int, stride: int, pad: int, filt: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Input index of every (output, tap) pair along one axis, and whether it is inside."""
    idx = np.arange(n_out)[:, None] * stride - pad + np.arange(filt)[None, :]
    return idx, (idx >= 0) & (idx < n_in)


def prepare_pool(op: Op, graph: Graph) -> Params:
    """Shared prepare: window geometry, tap counts, activation clamp, output check."""
    (x,), out = op_tensors(op, graph, 1)
    if x.dtype not in POOL_DTYPES:
        raise GraphError(f"{op.describe()}: input {x.describe()} must be float32, int8 or int16")
    if out.dtype is not x.dtype:
        raise GraphError(f"{op.describe()}: output {out.describe()} must have the input's type {x.dtype.value}")
    if len(x.shape) != 4:
        raise GraphError(f"{op.describe()}: input {x.describe()} must be 4-D NHWC")
    sh, sw = positive_int_attr(op, "stride_h"), positive_int_attr(op, "stride_w")
    fh, fw = positive_int_attr(op, "filter_height"), positive_int_attr(op, "filter_width")
    padding = padding_attr(op)
    act = fused_activation(op)
    n, h, w, c = x.shape
    oh, ow = out_size(padding, h, fh, sh), out_size(padding, w, fw, sw)
    if oh < 1 or ow < 1:
        raise GraphError(f"{op.describe()}: a {fh}x{fw} {padding} window does not fit input {x.describe()}")
    expected = (n, oh, ow, c)
    if out.shape != expected:
        raise GraphError(f"{op.describe()}: output {out.describe()} should have shape {list(expected)}")
    ph, pw = pad_before(padding, h, fh, sh), pad_before(padding, w, fw, sw)
    count = (_taps(oh, sh, ph, fh, h)[1].sum(1)[:, None] * _taps(ow, sw, pw, fw, w)[1].sum(1)[None, :])
    if np.any(count == 0):  # TFLM's kernel fails on a window entirely in the padding
        raise GraphError(f"{op.describe()}: some {fh}x{fw} windows lie entirely in the padding")
    params: Params = {"dtype": x.dtype.value, "stride": (sh, sw), "filter": (fh, fw), "pad": (ph, pw),
                      "out_hw": (oh, ow), "count": count.astype(np.int32)}
    if x.dtype is DType.FLOAT32:
        params["act"] = tuple(float(v) for v in activation_range_float32(act))
    else:
        s_in, zp_in = per_tensor_quant(op, x)
        s_out, zp_out = per_tensor_quant(op, out)
        if abs(s_in - s_out) > 1e-6 or zp_in != zp_out:
            raise GraphError(f"{op.describe()}: output {out.describe()} must have the scale and zero point "
                             f"of input {x.describe()} (pooling does not requantize)")
        params["act"] = activation_range(act, out.dtype.value, s_out, zp_out)
    return params


def _windows(params: Params, x: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (tap values, inside mask) per window tap in row-major tap order; the values are
    (N, OH, OW, C) and the mask broadcasts to them."""
    (sh, sw), (fh, fw), (ph, pw), (oh, ow) = params["stride"], params["filter"], params["pad"], params["out_hw"]
    iy, vy = _taps(oh, sh, ph, fh, x.shape[1])
    ix, vx = _taps(ow, sw, pw, fw, x.shape[2])
    iy, ix = np.clip(iy, 0, x.shape[1] - 1), np.clip(ix, 0, x.shape[2] - 1)
    for ty in range(fh):
        rows = x[:, iy[:, ty]]
        for tx in range(fw):
            mask = (vy[:, ty, None] & vx[None, :, tx])[None, :, :, None]
            yield rows[:, :, ix[:, tx]], mask


def _clamp(v: np.ndarray, lo: np.float32, hi: np.float32) -> np.ndarray:
    """TFLM's ``min(max(v, lo), hi)`` with std::max/std::min argument order (NaN passes)."""
    v = np.where(v < lo, lo, v)
    return np.where(hi < v, hi, v)


@register("AVERAGE_POOL_2D", dtypes="float32; int8; int16 (output scale/zp = input's)")
class AveragePool2D:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        p = prepare_pool(op, graph)
        p["macs"] = graph.tensors[op.outputs[0]].size * p["filter"][0] * p["filter"][1]
        return p

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x = inputs[0]
        count = params["count"][None, :, :, None]
        lo, hi = params["act"]
        if params["dtype"] == "float32":
            total = np.zeros(x.shape[:1] + tuple(params["out_hw"]) + x.shape[3:], np.float32)
            for v, mask in _windows(params, x):
                total = total + np.where(mask, v, np.float32(0))
            avg = total / count.astype(np.float32)
            return [_clamp(avg, np.float32(lo), np.float32(hi)).astype(np.float32)]
        acc = np.zeros(x.shape[:1] + tuple(params["out_hw"]) + x.shape[3:], np.int64)
        for v, mask in _windows(params, x):
            acc += np.where(mask, v, 0)
        avg = divide_round_half_away(wrap_int32(acc), count)  # TFLM sums in int32
        return [np.clip(avg, lo, hi).astype(x.dtype)]


@register("MAX_POOL_2D", dtypes="float32; int8; int16 (output scale/zp = input's)")
class MaxPool2D:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        p = prepare_pool(op, graph)
        p["macs"] = 0
        return p

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x = inputs[0]
        lo, hi = params["act"]
        shape = x.shape[:1] + tuple(params["out_hw"]) + x.shape[3:]
        if params["dtype"] == "float32":
            best = np.full(shape, np.finfo(np.float32).min, np.float32)
            for v, mask in _windows(params, x):
                best = np.where(mask & (best < v), v, best)
            return [_clamp(best, np.float32(lo), np.float32(hi)).astype(np.float32)]
        best = np.full(shape, np.iinfo(x.dtype).min, x.dtype)
        for v, mask in _windows(params, x):
            best = np.where(mask, np.maximum(best, v), best)
        return [np.clip(best, lo, hi).astype(x.dtype)]
