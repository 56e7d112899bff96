"""FULLY_CONNECTED: NumPy twin of TFLM's reference kernel.

The input is read as ``[batches, in]`` in flat order, whatever its rank (``in`` is the last
weight dimension); weights are ``[units, in]``. With ``keep_num_dims`` the output keeps the
input's leading dimensions, otherwise it is ``[batches, units]``.

Quantized accumulators are exact integer sums (float64 holds them without rounding) fed to
the shared output stage, with per-tensor or per-channel (one scale per unit) weights; like TFLM,
a per-tensor op needs a bias scale close to input x weight scale. float32 sums one input element
at a time, in TFLM's order.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.ir import DType, Graph, Op
from picoml.kernels.output_stage import (check_dtype, check_rank, fail, float_output, float_params,
                                         folded_bias, operands, quantized_params, requantize,
                                         stage_pixels)
from picoml.kernels.registry import Params, register


@register("FULLY_CONNECTED", dtypes="int8 x int8 (int32 bias), int16 x int8 (int64 or int32 bias), float32")
class FullyConnected:
    """``y = x @ w.T + b`` per batch row, with a fused activation."""

    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        x, w, bias = operands(op, graph, 2, 1)
        y = graph.tensor(op.outputs[0])
        check_rank(op, w, 2, "weights")
        units, depth = w.shape
        if units < 1 or depth < 1 or x.size == 0 or x.size % depth:
            raise fail(op, f"input {x.describe()} cannot be read as rows of {depth} values "
                           f"for weights {w.describe()}")
        if op.attrs.get("weights_format", 0) not in (0, "DEFAULT"):
            raise fail(op, f"weights format {op.attrs.get('weights_format')!r} is not supported (only DEFAULT)")
        batches = x.size // depth
        if op.attrs.get("keep_num_dims", False):
            if not x.shape or x.shape[-1] != depth:
                raise fail(op, f"keep_num_dims needs the last dimension of {x.describe()} to be {depth}")
            expected = tuple(x.shape[:-1]) + (units,)
        else:
            expected = (batches, units)
        if tuple(y.shape) != expected:
            raise fail(op, f"output {y.describe()} should have shape {list(expected)}")
        if x.dtype is DType.FLOAT32:
            check_dtype(op, y, (DType.FLOAT32,), "output")
            p = float_params(op, w, bias, units)
        else:
            per_channel = w.quant is not None and w.quant.per_channel
            p = quantized_params(op, x, w, bias, y, units, axis=0,
                                 check_bias_scale=not per_channel)
            p.update(folded_bias(w, bias, p, (1,)))
            if p["kind"] == "int8":  # rows per output-stage call of the C kernel
                p["stage_pixels"] = stage_pixels(units, batches)
        p.update(batches=batches, depth=depth, out_shape=expected, macs=batches * units * depth)
        return p

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        rows = x.reshape(params["batches"], params["depth"])
        if params["kind"] == "float32":
            rows = rows.astype(np.float32)
            total = np.zeros((params["batches"], w.shape[0]), np.float32)
            for d in range(params["depth"]):
                total += rows[:, d:d + 1] * w[:, d]
            return [float_output(total, bias, params).reshape(params["out_shape"])]
        xo = rows.astype(np.float64) - params["input_zero_point"]
        acc = (xo @ w.astype(np.float64).T).astype(np.int64)
        return [requantize(acc, bias, params).reshape(params["out_shape"])]
