"""QUANTIZE and DEQUANTIZE, bit-exact with TFLM's reference kernels.

* float32 -> int8/int16 (``AffineQuantize``): ``q = (int32)roundf(x / scale) + zp``, clamped.
  The division is float32, ``roundf`` rounds ties away from zero. A quotient outside the
  int32 range (or NaN) converts to INT32_MIN, which is what x86 ``cvttss2si`` gives and so
  what the tflite-micro package computes (C leaves it undefined).
* integer -> integer (``Requantize``): ``q = MBQM(x - zp_in, m, s) + zp_out``, clamped, with
  ``m * 2**s ~ scale_in / scale_out`` (double) and MBQM the double-rounding
  :func:`~picoml.kernels.quant.multiply_by_quantized_multiplier`.
* DEQUANTIZE int8/int16/uint8 -> float32: ``(float)((double)scale * (q - zp))``. The double
  product is exact, so the result is the correctly rounded float32.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from picoml.errors import GraphError
from picoml.ir import DType, Graph, Op
from picoml.kernels.elementwise import op_tensors, per_tensor_quant, rescale_multiplier
from picoml.kernels.quant import INT32_MIN, RANGES, multiply_by_quantized_multiplier, wrap_int32
from picoml.kernels.registry import Params, register

# (input, output) pairs TFLM's quantize_common.cc rescales with Requantize.
REQUANTIZE_PAIRS = {("int16", "int8"), ("int8", "int8"), ("int8", "uint8"), ("uint8", "int8"),
                    ("int8", "int16"), ("int8", "int32"), ("int16", "int16"), ("int16", "int32"),
                    ("int32", "int8"), ("int32", "int16")}
FLOAT_QUANTIZE_OUTPUTS = ("int8", "int16")
DEQUANTIZE_INPUTS = ("int8", "int16", "uint8")


def round_half_away_f32(x: np.ndarray) -> np.ndarray:
    """C ``roundf`` on float32 values (ties away from zero), returned as float64. Computed in
    float64, where ``|x| + 0.5`` is exact for every float32 below 2**52."""
    x = np.asarray(x, np.float64)
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def float_to_int32_x86(x: np.ndarray) -> np.ndarray:
    """``static_cast<int32_t>`` of already-integral floats as x86 computes it: values outside
    the int32 range and NaN become INT32_MIN. Returned as int64."""
    x = np.asarray(x, np.float64)
    ok = (x >= INT32_MIN) & (x < 2.0 ** 31)
    return np.where(ok, np.where(ok, x, 0.0).astype(np.int64), INT32_MIN)


@register("QUANTIZE", dtypes="float32->int8/int16; int8/int16/int32/uint8 requantize (TFLM pairs)")
class Quantize:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        """Check the type pair and per-tensor output quantization; derive the requantize
        multiplier for integer inputs."""
        (x,), out = op_tensors(op, graph, 1)
        if x.shape != out.shape:
            raise GraphError(f"{op.describe()}: output {out.describe()} must have the input's shape "
                             f"{list(x.shape)}")
        src, dst = x.dtype.value, out.dtype.value
        scale_out, zp_out = per_tensor_quant(op, out)
        p: Params = {"src": src, "dst": dst, "output_zero_point": zp_out, "macs": 0}
        if src == "float32":
            if dst not in FLOAT_QUANTIZE_OUTPUTS:
                raise GraphError(f"{op.describe()}: float32 input quantizes to int8 or int16, not "
                                 f"{out.describe()}")
            p["scale"] = scale_out  # a float32 value; the kernel divides in float32
            return p
        if (src, dst) not in REQUANTIZE_PAIRS:
            pairs = ", ".join(f"{a}->{b}" for a, b in sorted(REQUANTIZE_PAIRS))
            raise GraphError(f"{op.describe()}: cannot requantize {x.describe()} to {out.describe()}; "
                             f"supported: float32->int8/int16, {pairs}")
        scale_in, zp_in = per_tensor_quant(op, x)
        multiplier, shift = rescale_multiplier(op, scale_in / scale_out,
                                               f"from {x.describe()} to {out.describe()}")
        p["input_zero_point"], p["multiplier"], p["shift"] = zp_in, multiplier, shift
        return p

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        """Quantize float data, or rescale integer data to the output's scale and zero point."""
        x = inputs[0]
        dst = params["dst"]
        lo, hi = RANGES[dst]
        if params["src"] == "float32":
            with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN behave as in C
                q = np.divide(x, np.float32(params["scale"]), dtype=np.float32)
            q = float_to_int32_x86(round_half_away_f32(q))
        else:
            centered = wrap_int32(x.astype(np.int64) - params["input_zero_point"])
            q = multiply_by_quantized_multiplier(centered, params["multiplier"], params["shift"])
        q = wrap_int32(q + params["output_zero_point"])
        return [np.clip(q, lo, hi).astype(dst)]


@register("DEQUANTIZE", dtypes="int8/int16/uint8 -> float32")
class Dequantize:
    @staticmethod
    def prepare(op: Op, graph: Graph) -> Params:
        """Check the types and the input's per-tensor quantization."""
        (x,), out = op_tensors(op, graph, 1)
        if x.dtype.value not in DEQUANTIZE_INPUTS or out.dtype is not DType.FLOAT32:
            raise GraphError(f"{op.describe()}: dequantizes {'/'.join(DEQUANTIZE_INPUTS)} to float32; got "
                             f"{x.describe()} -> {out.describe()}")
        if x.shape != out.shape:
            raise GraphError(f"{op.describe()}: output {out.describe()} must have the input's shape "
                             f"{list(x.shape)}")
        scale, zp = per_tensor_quant(op, x)
        return {"scale": scale, "zero_point": zp, "macs": 0}

    @staticmethod
    def eval(params: Params, inputs: list[Optional[np.ndarray]]) -> list[np.ndarray]:
        """scale * (q - zero_point), computed in double and rounded once to float32."""
        centered = inputs[0].astype(np.int64) - params["zero_point"]
        return [(np.float64(params["scale"]) * centered).astype(np.float32)]
