"""LEAKY_RELU, bit-exact with TFLM's reference kernels.

Float32: ``x > 0 ? x : x * alpha`` in float32. Quantized (int8, int16; ``QuantizeLeakyRelu``)
uses two multipliers, derived in double from the float32 scales and alpha (the
tflite-micro package does this; some TFLM sources divide in float32 first)::

    d   = q_in - zp_in
    out = zp_out + (d >= 0 ? MBQM(d, m_id, s_id) : sign(alpha) * MBQM(d, |m_alpha|, s_alpha))

with ``m_id * 2**s_id ~ scale_in / scale_out`` and ``m_alpha * 2**s_alpha ~ scale_in * alpha /
scale_out``, the sum wrapped to int32 (TFLM adds in int32), then clamped to the type's range.
TFLM takes the multiplier's magnitude for a negative alpha and negates the scaled value.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op
from picoml.kernels.elementwise import op_tensors, per_tensor_quant, rescale_multiplier
from picoml.kernels.quant import RANGES, multiply_by_quantized_multiplier, wrap_int32
from picoml.kernels.registry import Params, register


@register("LEAKY_RELU", dtypes="float32; int8; int16")
class LeakyRelu:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        """Check types, shapes and ``alpha``; derive the identity and alpha multipliers."""
        (x,), out = op_tensors(op, graph, 1)
        if x.dtype is not out.dtype or x.dtype not in (DType.FLOAT32, DType.INT8, DType.INT16):
            raise GraphError(f"{op.describe()}: input and output must both be float32, int8 or int16; got "
                             f"{x.describe()} -> {out.describe()}")
        if x.shape != out.shape:
            raise GraphError(f"{op.describe()}: output {out.describe()} must have the input's shape "
                             f"{list(x.shape)}")
        alpha = op.attrs.get("alpha", 0.2)
        if not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or abs(alpha) > 3.4e38:
            raise GraphError(f"{op.describe()}: alpha must be a finite float32 number, got {alpha!r}")
        f = np.float32
        p: Params = {"dtype": x.dtype.value, "alpha": float(f(alpha)), "macs": out.size}
        if x.dtype is DType.FLOAT32:
            return p
        (s_in, zp_in), (s_out, zp_out) = per_tensor_quant(op, x), per_tensor_quant(op, out)
        alpha_real = s_in * float(f(alpha)) / s_out
        identity_real = s_in / s_out
        m_alpha, shift_alpha = rescale_multiplier(op, alpha_real, "scale_in * alpha / scale_out")
        m_id, shift_id = rescale_multiplier(op, identity_real, "scale_in / scale_out")
        p.update(input_zero_point=zp_in, output_zero_point=zp_out,
                 multiplier_identity=m_id, shift_identity=shift_id,
                 multiplier_alpha=abs(m_alpha), shift_alpha=shift_alpha, alpha_negative=m_alpha < 0)
        return p

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        """Identity rescale for non-negative inputs, alpha rescale for negative ones."""
        x = inputs[0]
        dtype = params["dtype"]
        if dtype == "float32":
            with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 and NaN behave as in C
                return [np.where(x > 0, x, x * np.float32(params["alpha"])).astype(np.float32)]
        d = x.astype(np.int64) - params["input_zero_point"]
        pos = multiply_by_quantized_multiplier(d, params["multiplier_identity"], params["shift_identity"])
        neg = multiply_by_quantized_multiplier(d, params["multiplier_alpha"], params["shift_alpha"])
        if params["alpha_negative"]:
            neg = -neg
        lo, hi = RANGES[dtype]
        # TFLM adds the zero point in int32, which wraps in the int16 extremes (|v| near 2**31).
        res = np.clip(wrap_int32(np.where(d >= 0, pos, neg) + params["output_zero_point"]), lo, hi)
        return [res.astype(dtype)]
