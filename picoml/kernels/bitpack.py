"""The bitpacking contract of binary tensors, and the ops that cross it (LceQuantize,
LceDequantize), bit-exact with Larq Compute Engine.

A ``DType.BITPACKED`` tensor keeps its logical shape ``[..., C]``; its storage packs the last
axis into ``ceil(C/32)`` int32 words: channel ``c`` is bit ``c % 32`` (bit 0 the least
significant) of word ``c // 32``. A 1 bit means -1, a 0 bit means +1. The unused high bits of
the last word are 0, so they add nothing to an xor-popcount between two packed tensors.

* LceQuantize: float32 input -> bit 1 exactly when ``x < 0`` (+0.0, -0.0 and NaN give +1);
  int8 input -> bit 1 exactly when ``q < zero_point``.
* LceDequantize: float32 output -> +1.0 for bit 0, -1.0 for bit 1; int8 output ->
  ``min(127, zp + r)`` for bit 0 and ``max(-128, zp - r)`` for bit 1 with
  ``r = round_half_away(float32(1.0f / scale))`` (LCE ``DequantizeEval``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op, Tensor
from picoml.kernels.elementwise import op_tensors, per_tensor_quant
from picoml.kernels.quant import round_half_away
from picoml.kernels.registry import Params, register

BITS = 32  # channels per storage word


def packed_words(channels: int) -> int:
    """Storage words of ``channels`` binary channels."""
    return (int(channels) + BITS - 1) // BITS


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a boolean array ``[..., C]`` (True = -1) into int32 words ``[..., ceil(C/32)]``."""
    bits = np.asarray(bits, bool)
    c = bits.shape[-1]
    words = packed_words(c)
    padded = np.zeros(bits.shape[:-1] + (words * BITS,), np.uint64)
    padded[..., :c] = bits
    weights = np.uint64(1) << np.arange(BITS, dtype=np.uint64)
    packed = (padded.reshape(bits.shape[:-1] + (words, BITS)) * weights).sum(-1, dtype=np.uint64)
    return packed.astype(np.uint32).view(np.int32)


def unpack_bits(words: np.ndarray, channels: int) -> np.ndarray:
    """The boolean array ``[..., channels]`` (True = -1) held by packed int32 ``words``."""
    u = np.asarray(words).astype(np.int32).view(np.uint32)
    shifts = np.arange(BITS, dtype=np.uint32)
    bits = ((u[..., :, None] >> shifts) & np.uint32(1)).astype(bool)
    return bits.reshape(u.shape[:-1] + (u.shape[-1] * BITS,))[..., :channels]


def popcount(x: np.ndarray) -> np.ndarray:
    """Set bits of every 32-bit word (int32 or uint32 input), as int64."""
    u = np.asarray(x).astype(np.int32, copy=False).view(np.uint32)
    return np.bitwise_count(u).astype(np.int64)


def check_bitpacked(op: Op, t: Tensor, role: str) -> None:
    """Refuse a tensor that should be bitpacked but is not (or has no channel axis)."""
    if t.dtype is not DType.BITPACKED:
        raise GraphError(f"{op.describe()}: {role} {t.describe()} must be bitpacked")
    if not t.shape or t.shape[-1] < 1:
        raise GraphError(f"{op.describe()}: {role} {t.describe()} needs a channel axis of at least 1 channel")


def _same_shape(op: Op, a: Tensor, b: Tensor) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise GraphError(f"{op.describe()}: output {b.describe()} should have the logical shape "
                         f"{list(a.shape)} of input {a.describe()}")


@register("LceQuantize", dtypes="float32 -> bitpacked; int8 -> bitpacked")
class LceQuantize:
    """Sign-binarize and bitpack along the last axis."""

    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        (x,), y = op_tensors(op, graph, 1)
        check_bitpacked(op, y, "output")
        if x.dtype not in (DType.FLOAT32, DType.INT8):
            raise GraphError(f"{op.describe()}: input {x.describe()} must be float32 or int8")
        _same_shape(op, x, y)
        zero_point = per_tensor_quant(op, x)[1] if x.dtype is DType.INT8 else 0
        rows = int(np.prod(x.shape[:-1], dtype=np.int64))
        return {"dtype": x.dtype.value, "zero_point": zero_point, "rows": rows, "channels": x.shape[-1],
                "macs": 0}

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x = inputs[0]
        bits = x < (np.float32(0) if params["dtype"] == "float32" else params["zero_point"])
        return [pack_bits(bits)]


@register("LceDequantize", dtypes="bitpacked -> float32; bitpacked -> int8")
class LceDequantize:
    """Unpack bits to +-1 (float32) or to the int8 codes nearest +-1."""

    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        (x,), y = op_tensors(op, graph, 1)
        check_bitpacked(op, x, "input")
        if y.dtype not in (DType.FLOAT32, DType.INT8):
            raise GraphError(f"{op.describe()}: output {y.describe()} must be float32 or int8")
        _same_shape(op, x, y)
        params: Params = {"dtype": y.dtype.value, "channels": x.shape[-1],
                          "rows": int(np.prod(x.shape[:-1], dtype=np.int64)), "macs": 0}
        if y.dtype is DType.FLOAT32:
            params["values"] = (1.0, -1.0)
        else:
            scale, zp = per_tensor_quant(op, y)
            inv = float(np.float32(1.0) / np.float32(scale))
            if not np.isfinite(inv) or inv >= 2.0 ** 31:
                raise GraphError(f"{op.describe()}: output {y.describe()} has a scale too small for int8 +-1")
            r = round_half_away(inv)
            params["values"] = (min(127, zp + r), max(-128, zp - r))
        return params

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        bits = unpack_bits(inputs[0], params["channels"])
        plus, minus = params["values"]
        dtype = np.float32 if params["dtype"] == "float32" else np.int8
        return [np.where(bits, dtype(minus), dtype(plus)).astype(dtype)]
