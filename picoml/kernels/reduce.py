"""MEAN over constant axes, bit-exact with TFLM's reference kernels (``reduce_common.cc``).

Reduced elements are summed per output in the input's row-major order, then divided by
their number ``K``:

* float32: the sum in float32 (sequentially, so the rounding order matches), divided by ``K``.
* int8/int16 (``QuantizedMeanOrSum``): ``M * 2**s ~ scale_in / scale_out`` is folded with
  ``1/K``: ``n = min(floor(log2 K), 32, 31 + s)``, ``M' = (M << n) / K``, ``s' = s - n``, and
  ``out = MBQM(int32(sum - zp_in * K), M', s') + zp_out`` clamped to the type.

Some TFLM sources also show a ``Mean<T, int32>`` shortcut (truncating ``sum / K``) when the
output's scale and zero point equal the input's; the tflite-micro build picoml is measured
against does not take it (equal-scale cases match the requantizing path bit for bit, ties
included), so neither does picoml. Axes may repeat or be negative; inputs have rank <= 5
(TFLM's ``kMaxNumberOfAxis``). MACs: one per input element (every element is added once).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op
from picoml.kernels.elementwise import op_tensors, per_tensor_quant
from picoml.kernels.quant import RANGES, multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from picoml.kernels.registry import Params, register
from picoml.kernels.shape_ops import const_ints

MAX_RANK = 5  # TFLM kMaxNumberOfAxis


def resolve_axes(op: Op, axes: np.ndarray, rank: int) -> list[int]:
    """Distinct non-negative axes in first-seen order (TFLM ``ResolveAxis``)."""
    resolved: list[int] = []
    for a in axes.tolist():
        r = a + rank if a < 0 else a
        if not 0 <= r < rank:
            raise GraphError(f"{op.describe()}: axis {a} is out of range for a rank-{rank} input")
        if r not in resolved:
            resolved.append(r)
    return resolved


def mean_multiplier(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """Fold ``1/count`` into a quantized multiplier the way ``QuantizedMeanOrSum`` does."""
    n = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << n) // count, shift - n


@register("MEAN", dtypes="float32; int8; int16 (rank <= 5, constant int32 axes)")
class Mean:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        (x, axis_t), out = op_tensors(op, graph, 2)
        if x.dtype not in (DType.FLOAT32, DType.INT8, DType.INT16):
            raise GraphError(f"{op.describe()}: input {x.describe()} must be float32, int8 or int16")
        if out.dtype is not x.dtype:
            raise GraphError(f"{op.describe()}: output {out.describe()} must have the input's type "
                             f"{x.dtype.value}")
        rank = len(x.shape)
        if rank > MAX_RANK:
            raise GraphError(f"{op.describe()}: input {x.describe()} has rank {rank}; at most {MAX_RANK} "
                             "is supported")
        if x.size == 0:
            raise GraphError(f"{op.describe()}: input {x.describe()} is empty")
        axes = resolve_axes(op, const_ints(op, graph, 1, "axis", (DType.INT32,)), rank)
        keep = op.attrs.get("keep_dims", False)
        if not isinstance(keep, (bool, np.bool_)):
            raise GraphError(f"{op.describe()}: keep_dims={keep!r}; expected a boolean")
        kept = [d for d in range(rank) if d not in axes]
        reduced = sorted(axes)  # row-major order of the reduced indices
        if keep:
            expected = tuple(1 if d in axes else x.shape[d] for d in range(rank))
        else:
            expected = tuple(x.shape[d] for d in kept)
        if out.shape != expected:
            raise GraphError(f"{op.describe()}: output {out.describe()} should have shape {list(expected)}")
        count = int(np.prod([x.shape[d] for d in reduced], dtype=np.int64))
        params: Params = {"dtype": x.dtype.value, "perm": tuple(kept + reduced), "reduced": tuple(reduced),
                          "count": count, "out_shape": out.shape, "macs": int(x.size)}
        if x.dtype is DType.FLOAT32:
            params["mode"] = "float"
            return params
        s_in, zp_in = per_tensor_quant(op, x)
        s_out, zp_out = per_tensor_quant(op, out)
        m, s = quantize_multiplier(s_in / s_out)  # float32 scales divided in double, as TFLM
        m, s = mean_multiplier(m, s, count)
        if s > 31:  # C would shift an int32 left by 32 or more
            raise GraphError(f"{op.describe()}: input scale {s_in:g} / output scale {s_out:g} is too large to "
                             "requantize in int32")
        params.update(mode="requantize", multiplier=m, shift=s, zp_in=zp_in, zp_out=zp_out,
                      scratch_bytes=4 * max(out.size, 1))  # the C kernel's int32 sums, one per output
        return params

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x = inputs[0]
        count = params["count"]
        cols = np.transpose(x, params["perm"]).reshape(-1, count)
        if params["mode"] == "float":
            total = np.zeros(cols.shape[0], np.float32)
            for k in range(count):  # sequential float32 adds, as the C loop does
                total = total + cols[:, k]
            return [(total / np.float32(count)).astype(np.float32).reshape(params["out_shape"])]
        total = wrap_int32(cols.astype(np.int64).sum(axis=1))
        shifted = wrap_int32(total - params["zp_in"] * count)
        y = multiply_by_quantized_multiplier(shifted, params["multiplier"], params["shift"]) + params["zp_out"]
        y = np.clip(y, *RANGES[params["dtype"]])
        return [y.astype(x.dtype).reshape(params["out_shape"])]
